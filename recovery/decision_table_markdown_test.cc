// docs/recovery.md embeds the decision table; these tests keep it in sync with AllRows().
#include "recovery/decision_table_markdown.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "recovery/decision_table.h"

#ifndef PACT_SOURCE_DIR
#error "PACT_SOURCE_DIR must name the source tree (see recovery/CMakeLists.txt)"
#endif

namespace pact::recovery {
namespace {

std::size_t CountLines(const std::string& text) {
  std::size_t lines = 0;
  for (char c : text) lines += c == '\n';
  return lines;
}

TEST(RecoveryMarkdown, RendersOneLinePerRowAfterTheHeader) {
  const std::string table = RenderMarkdownTable();
  ASSERT_EQ(CountLines(table), AllRows().size() + 2);
  EXPECT_EQ(table.back(), '\n');
  std::istringstream lines(table);
  std::string line;
  std::getline(lines, line);  // header
  std::getline(lines, line);  // separator
  for (std::size_t i = 0; i < AllRows().size(); ++i) {
    ASSERT_TRUE(std::getline(lines, line));
    const Row& row = AllRows()[i];
    EXPECT_EQ(line.rfind("| " + std::to_string(i) + " |", 0), 0u) << line;
    EXPECT_NE(line.find(std::string(row.why)), std::string::npos) << line;
    EXPECT_NE(line.find("`" + std::string(Name(row.action)) + "`"), std::string::npos) << line;
    // 7 columns: 8 pipes, none from the cells themselves.
    EXPECT_EQ(std::count(line.begin(), line.end(), '|'), 8) << line;
  }
}

TEST(RecoveryMarkdown, ExtractsTheBlockBetweenTheMarkers) {
  EXPECT_EQ(
      ExtractTableBlock("intro\n<!-- table:begin -->\n| a |\n| b |\n<!-- table:end -->\nend\n"),
      "| a |\n| b |\n");
  EXPECT_EQ(ExtractTableBlock("<!-- table:begin -->\n<!-- table:end -->\n"), "");
}

TEST(RecoveryMarkdown, RefusesMissingMisplacedOrRepeatedMarkers) {
  EXPECT_EQ(ExtractTableBlock("no markers\n"), std::nullopt);
  EXPECT_EQ(ExtractTableBlock("<!-- table:begin -->\n| a |\n"), std::nullopt);
  EXPECT_EQ(ExtractTableBlock("<!-- table:end -->\n<!-- table:begin -->\n"), std::nullopt);
  EXPECT_EQ(ExtractTableBlock("<!-- table:begin -->\n<!-- table:begin -->\n<!-- table:end -->\n"),
            std::nullopt);
  // A marker quoted inside a line is not a marker line.
  EXPECT_EQ(ExtractTableBlock("see `<!-- table:begin -->`\n| a |\n<!-- table:end -->\n"),
            std::nullopt);
}

TEST(RecoveryMarkdown, DocIsInSyncWithTable) {
  const std::string path = std::string(PACT_SOURCE_DIR) + "/docs/recovery.md";
  std::ifstream file(path, std::ios::binary);
  ASSERT_TRUE(file) << "cannot read " << path;
  std::ostringstream contents;
  contents << file.rdbuf();
  const std::optional<std::string> block = ExtractTableBlock(contents.str());
  ASSERT_TRUE(block.has_value()) << path << " must hold the markers " << kTableBeginMarker
                                 << " and " << kTableEndMarker << ", once each, on lines of "
                                 << "their own";
  const std::string expected = RenderMarkdownTable();
  EXPECT_EQ(*block, expected)
      << "docs/recovery.md is out of date: replace the block between the markers with the "
         "output of bin/pact_recovery_table";
}

}  // namespace
}  // namespace pact::recovery
