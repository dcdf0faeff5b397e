// tools/simad/cmd_tokenize.cpp: `simad tokenize`, jieba-compatible word segmentation of UTF-8 lines.
//
// One output line per input line: the words separated by single spaces, whitespace-only tokens left
// out, so the output equals Python's ' '.join(w for w in jieba.cut(line) if w.strip()) (an empty
// line gives an empty line). Segmentation runs on the raw text, as jieba does; --normalize applies
// NFKC + case folding first (what the models' tokens path does). --tags prints word/TAG/K items
// (K = 1 for keywords: nouns, verbs, adjectives; English words through WordNet).
// Input: stdin, or --input FILE; --jsonl reads one JSON object per line and segments its --field.
// Invalid UTF-8 is replaced by U+FFFD, and the number of replaced sequences is reported on stderr.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "simad/core/error.hpp"
#include "simad/io/jsonl_field.hpp"
#include "simad/text/pos.hpp"
#include "simad/text/segmenter.hpp"
#include "simad/text/tokenizer.hpp"

namespace simad::cli {
namespace {

struct TokenizeOptions {
  std::string input;  // empty: stdin
  bool jsonl = false;
  std::string field = "text";
  bool tags = false;
  bool no_hmm = false;
  bool normalize = false;
  std::string jieba_dir;
  std::string wordnet_dir;
};

// The text of one input line: the line itself, or its JSON field.
std::string line_text(const std::string& line, const TokenizeOptions& opt, const std::string& source, size_t line_no) {
  return opt.jsonl ? io::jsonl_string_field(line, opt.field, source, int64_t(line_no)) : line;
}

void run_tokenize(const TokenizeOptions& opt) {
  const std::string jieba = opt.jieba_dir.empty() ? text::jieba_dir() : opt.jieba_dir;
  text::TokenizerOptions topt;
  topt.normalize = opt.normalize;
  topt.hmm = !opt.no_hmm;
  std::optional<text::WordNetLexicon> wordnet;
  if (opt.tags) wordnet = text::WordNetLexicon::load(opt.wordnet_dir.empty() ? text::wordnet_dir() : opt.wordnet_dir);
  const text::Tokenizer tok(text::Segmenter::load(jieba), std::move(wordnet), topt);

  std::ifstream file;
  if (!opt.input.empty()) {
    file.open(opt.input, std::ios::binary);
    if (!file) fail("cannot open '", opt.input, "'");
  }
  std::istream& in = opt.input.empty() ? std::cin : file;
  const std::string source = opt.input.empty() ? "<stdin>" : opt.input;

  std::string line, out;
  size_t line_no = 0, replaced_total = 0, bad_lines = 0;
  while (std::getline(in, line)) {
    ++line_no;
    size_t replaced = 0;
    if (opt.tags) {
      bool first = true;
      for (const text::Word& w : tok.tokenize(line_text(line, opt, source, line_no), &replaced)) {
        if (!first) out += ' ';
        first = false;
        out += w.text;
        out += '/';
        out += w.tag;
        out += w.keyword ? "/1" : "/0";
      }
    } else {
      bool first = true;
      for (const std::string& w : tok.words(line_text(line, opt, source, line_no), &replaced)) {
        if (!first) out += ' ';
        first = false;
        out += w;
      }
    }
    out += '\n';
    replaced_total += replaced;
    bad_lines += replaced ? 1 : 0;
    if (out.size() >= (1u << 16)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  if (in.bad()) fail("read error on ", source, " after line ", line_no);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (replaced_total)
    std::fprintf(stderr, "simad tokenize: %zu invalid UTF-8 sequence(s) on %zu line(s) of %s replaced by U+FFFD\n",
                 replaced_total, bad_lines, source.c_str());
}

}  // namespace

void register_tokenize(CLI::App& app) {
  auto opt = std::make_shared<TokenizeOptions>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Segment UTF-8 lines into words as Python jieba does (one output line per input line)");
  cmd->footer(
      "Output: the words of each line separated by single spaces, whitespace-only tokens left out; equal to\n"
      "Python's ' '.join(w for w in jieba.cut(line) if w.strip()). Dictionary and HMM model: Debian python3-jieba\n"
      "(--jieba-dir, or SIMAD_JIEBA_DIR); WordNet for --tags: wordnet-base (--wordnet-dir, or SIMAD_WORDNET_DIR).\n"
      "Examples:\n"
      "  printf '我来到北京清华大学\\n' | simad tokenize          # 我 来到 北京 清华大学\n"
      "  simad tokenize --jsonl --field text --input ads.jsonl --tags");
  cmd->add_option("--input", opt->input, "Read FILE instead of stdin")->type_name("FILE");
  cmd->add_flag("--jsonl", opt->jsonl, "Each input line is a JSON object; segment its --field");
  cmd->add_option("--field", opt->field, "The JSON field holding the text (with --jsonl; default: text)")
      ->type_name("NAME");
  cmd->add_flag("--tags", opt->tags, "Print word/TAG/K items: the POS tag and the keyword label (1: noun, verb, adjective)");
  cmd->add_flag("--no-hmm", opt->no_hmm, "Dictionary only: jieba.cut(line, HMM=False)");
  cmd->add_flag("--normalize", opt->normalize, "NFKC + case folding before segmenting (then not jieba's raw output)");
  cmd->add_option("--jieba-dir", opt->jieba_dir, "Directory with jieba's dict.txt and finalseg/")->type_name("DIR");
  cmd->add_option("--wordnet-dir", opt->wordnet_dir, "Directory with WordNet's index.noun/verb/adj")->type_name("DIR");
  cmd->callback([opt] { run_tokenize(*opt); });
}

static const RegisterCommand kTokenize{20, "tokenize", &register_tokenize};

}  // namespace simad::cli
