// pact_recovery_table: prints the decision table as the Markdown block that docs/recovery.md
// embeds between its table markers. Run it after changing a row and paste the output there; the
// test RecoveryMarkdown.DocIsInSyncWithTable fails until the two agree.
#include <cstdio>

#include "recovery/decision_table_markdown.h"

int main() {
  const std::string table = pact::recovery::RenderMarkdownTable();
  std::fwrite(table.data(), 1, table.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}
