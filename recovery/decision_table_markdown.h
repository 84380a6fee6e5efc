// The decision table rendered as Markdown, for docs/recovery.md. The document embeds the table
// between the markers kTableBeginMarker and kTableEndMarker; a test compares that block with
// RenderMarkdownTable(), so the documentation cannot drift from the code. Regenerate the block
// with the pact_recovery_table tool.
//
// Pure: string building only, no IO. Thread-safe (no state).
#ifndef PACT_RECOVERY_DECISION_TABLE_MARKDOWN_H_
#define PACT_RECOVERY_DECISION_TABLE_MARKDOWN_H_

#include <optional>
#include <string>
#include <string_view>

namespace pact::recovery {

inline constexpr std::string_view kTableBeginMarker = "<!-- table:begin -->";
inline constexpr std::string_view kTableEndMarker = "<!-- table:end -->";

// Every row of AllRows() as one Markdown table: a header line, a separator line and one line per
// row, each ending in '\n'. Row numbers are the positions in AllRows().
std::string RenderMarkdownTable();

// The text strictly between the line holding kTableBeginMarker and the line holding
// kTableEndMarker in `document`. nullopt unless each marker occurs exactly once, each on a line
// of its own, the begin marker first.
std::optional<std::string> ExtractTableBlock(std::string_view document);

}  // namespace pact::recovery

#endif  // PACT_RECOVERY_DECISION_TABLE_MARKDOWN_H_
