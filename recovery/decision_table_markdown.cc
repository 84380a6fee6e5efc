#include "recovery/decision_table_markdown.h"

#include <fmt/format.h>

#include <cstddef>

#include "recovery/decision_table.h"

namespace pact::recovery {
namespace {

// Occurrences of `needle` in `haystack`.
std::size_t Count(std::string_view haystack, std::string_view needle) {
  std::size_t count = 0;
  for (std::size_t at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

// True if [at, at + length) is a whole line: preceded by the start or '\n', followed by '\n'.
bool IsWholeLine(std::string_view text, std::size_t at, std::size_t length) {
  const bool starts_line = at == 0 || text[at - 1] == '\n';
  const bool ends_line = at + length < text.size() && text[at + length] == '\n';
  return starts_line && ends_line;
}

}  // namespace

std::string RenderMarkdownTable() {
  std::string out =
      "| # | decision | log | store | coordinator | action | why |\n"
      "| --: | --- | --- | --- | --- | --- | --- |\n";
  const auto& rows = AllRows();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    // Names in backticks so that readers can grep the code for them.
    out += fmt::format("| {} | `{}` | `{}` | `{}` | `{}` | `{}` | {} |\n", i,
                       Name(row.when.decision), Name(row.when.log), Name(row.when.store),
                       Name(row.when.reachability), Name(row.action), row.why);
  }
  return out;
}

std::optional<std::string> ExtractTableBlock(std::string_view document) {
  if (Count(document, kTableBeginMarker) != 1 || Count(document, kTableEndMarker) != 1) {
    return std::nullopt;
  }
  const std::size_t begin = document.find(kTableBeginMarker);
  const std::size_t end = document.find(kTableEndMarker);
  if (end < begin || !IsWholeLine(document, begin, kTableBeginMarker.size()) ||
      !IsWholeLine(document, end, kTableEndMarker.size())) {
    return std::nullopt;
  }
  const std::size_t body = begin + kTableBeginMarker.size() + 1;  // past the marker's '\n'
  return std::string(document.substr(body, end - body));
}

}  // namespace pact::recovery
