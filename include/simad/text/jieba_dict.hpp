// simad/text/jieba_dict.hpp: jieba's prefix dictionary (dict.txt), as a trie over code points.
//
// dict.txt (Debian python3-jieba) has one "word freq tag" per line, e.g. "B超 3 n". jieba
// (Tokenizer.gen_pfdict) builds FREQ: every word -> its frequency (a repeated word keeps its LAST
// frequency; total sums every line) and every proper prefix of a word -> 0 unless it is a word
// itself. The set of keys of FREQ is therefore exactly the set of nodes of a trie of the words,
// which is what JiebaDict stores: walking the trie from a position gives the DAG edges of
// jieba.get_DAG (nodes with freq > 0) and stops where jieba's `frag in FREQ` fails.
// Each node also keeps log(freq) - log(total) precomputed (log(1) - log(total) for prefixes and
// freq 0, as jieba's `FREQ.get(w) or 1`), the same double jieba computes, so routes tie exactly
// as in Python.
//
// Locating the files: jieba_dir() = $SIMAD_JIEBA_DIR, else Debian's python3-jieba directory; the
// CLI's --jieba-dir overrides both. A missing file is a clear simad::Error naming the path.
//
// Loading: one pass over the 5 MB file (no per-word allocation), a sort of the words, and a
// breadth-first layout of the trie in flat arrays.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "simad/core/error.hpp"
#include "simad/text/utf8.hpp"

namespace simad::text {

// Where Debian's python3-jieba keeps dict.txt and finalseg/ (overridable, see above).
inline std::string jieba_dir() {
  if (const char* env = std::getenv("SIMAD_JIEBA_DIR"); env && *env) return env;
  return "/usr/lib/python3/dist-packages/jieba";
}

// Reads a whole file; a missing or unreadable file throws with `what`, the path and `hint` (how to
// provide the file).
inline std::string read_text_file(const std::string& path, const char* what,
                                  const char* hint = "install python3-jieba, or set SIMAD_JIEBA_DIR or "
                                                     "--jieba-dir to a directory with dict.txt and finalseg/") {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(what, ": cannot open '", path, "' (", hint, ")");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  std::string data;
  if (size > 0) {  // a regular file: one read
    data.resize(size_t(size));
    in.read(data.data(), size);
    if (in.gcount() != size) fail(what, ": read error on '", path, "'");
  } else {  // a pipe or an empty file
    in.clear();
    data.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  if (in.bad()) fail(what, ": read error on '", path, "'");
  return data;
}

class JiebaDict {
 public:
  static constexpr uint32_t kNoChild = 0xFFFFFFFFu;
  static constexpr uint16_t kNoTag = 0xFFFF;

  JiebaDict() = default;

  // Loads dict.txt. Errors name the file and line.
  static JiebaDict load(const std::string& path) {
    JiebaDict d;
    d.parse(read_text_file(path, "jieba dictionary"), path);
    return d;
  }
  // The same from text already in memory (tests); `name` is used in error messages.
  static JiebaDict from_text(std::string_view text, const std::string& name = "<dict>") {
    JiebaDict d;
    d.parse(text, name);
    return d;
  }

  static constexpr uint32_t root() { return 0; }
  // Child of `node` along code point c, or kNoChild. Children are stored sorted and contiguous; a
  // long list (the second characters after a common first one: hundreds) is searched without
  // branches, since a mispredicted branch per step costs more than the loads.
  uint32_t child(uint32_t node, char32_t c) const {
    if (node == 0 && c < kRootDirect) return root_direct_[c];
    const uint32_t begin = nodes_[node].child_begin, end = nodes_[node + 1].child_begin;
    if (end - begin <= 8) {
      for (uint32_t i = begin; i < end; ++i)
        if (char_[i] == c) return i;
      return kNoChild;
    }
    const char32_t* base = char_.data() + begin;
    for (size_t n = end - begin; n > 1;) {  // the last element <= c
      const size_t half = n / 2;
      base = base[half] <= c ? base + half : base;
      n -= half;
    }
    return *base == c ? uint32_t(base - char_.data()) : kNoChild;
  }

  // Is the node a dictionary word with freq > 0 (an edge of jieba's DAG)?
  bool is_word(uint32_t node) const { return nodes_[node].word != 0; }
  int64_t freq(uint32_t node) const { return freq_[node]; }
  // log(freq or 1) - log(total), as jieba's calc() computes it.
  double log_prob(uint32_t node) const { return nodes_[node].log_prob; }
  // The dictionary tag of a word (an index into tags()), kNoTag for a prefix-only node.
  uint16_t tag_id(uint32_t node) const { return tag_[node]; }
  const std::vector<std::string>& tags() const { return tags_; }
  double log_total() const { return log_total_; }
  int64_t total() const { return total_; }
  size_t word_count() const { return lines_; }
  size_t node_count() const { return char_.size(); }

  // The node of a whole code-point sequence, or kNoChild.
  uint32_t find(std::u32string_view word) const {
    uint32_t node = root();
    for (char32_t c : word) {
      node = child(node, c);
      if (node == kNoChild) return kNoChild;
    }
    return word.empty() ? kNoChild : node;
  }
  // jieba's FREQ.get(word) (0 when absent): a UTF-8 convenience for tests and the tagger.
  int64_t word_freq(std::string_view utf8) const {
    const uint32_t node = find(decode(utf8).chars);
    return node == kNoChild ? 0 : freq(node);
  }

 private:
  static constexpr char32_t kRootDirect = 0x10000;  // the root's children by direct index (BMP)

  struct Entry {
    std::string_view word;
    uint32_t line;  // 0-based order in the file: the last of equal words wins, as in jieba
    int64_t freq;
    uint16_t tag;
  };

  uint16_t intern_tag(std::string_view tag) {
    for (size_t i = 0; i < tags_.size(); ++i)
      if (tags_[i] == tag) return uint16_t(i);
    if (tags_.size() >= kNoTag) fail("jieba dictionary: more than 65534 distinct tags");
    tags_.emplace_back(tag);
    return uint16_t(tags_.size() - 1);
  }

  // jieba's gen_pfdict: line.strip() (ASCII whitespace), split(' '), word = field 0, freq = int(field 1);
  // anything else raises "invalid dictionary entry in FILE at Line N". The tag (field 2) is what
  // jieba.posseg reads; a line without one keeps kNoTag.
  void parse(std::string_view text, const std::string& name) {
    std::vector<Entry> entries;
    entries.reserve(text.size() / 14 + 1);
    size_t line_no = 0, pos = 0;
    while (pos < text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
      while (!line.empty() && is_ws(line.front())) line.remove_prefix(1);
      while (!line.empty() && is_ws(line.back())) line.remove_suffix(1);
      auto bad = [&](const char* why) {
        fail("jieba dictionary '", name, "' line ", line_no, ": ", why, " (expected 'word freq [tag]'): '",
             std::string(line.substr(0, 80)), "'");
      };
      const size_t sp1 = line.find(' ');
      if (sp1 == std::string_view::npos || sp1 == 0) bad("missing word or frequency");
      const std::string_view word = line.substr(0, sp1);
      const size_t sp2 = line.find(' ', sp1 + 1);
      const std::string_view freq_text =
          line.substr(sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1);
      if (freq_text.empty() || freq_text.size() > 15) bad("bad frequency");
      int64_t freq = 0;
      for (char c : freq_text) {
        if (c < '0' || c > '9') bad("bad frequency");
        freq = freq * 10 + (c - '0');
      }
      if (!is_valid_utf8(word)) bad("word is not valid UTF-8");
      uint16_t tag = kNoTag;
      if (sp2 != std::string_view::npos) {
        std::string_view t = line.substr(sp2 + 1);
        if (const size_t sp3 = t.find(' '); sp3 != std::string_view::npos) t = t.substr(0, sp3);
        if (!t.empty()) tag = intern_tag(t);
      }
      total_ += freq;
      if (total_ > (int64_t(1) << 52)) bad("total frequency too large");
      entries.push_back(Entry{word, uint32_t(entries.size()), freq, tag});
    }
    lines_ = entries.size();
    if (lines_ == 0 || total_ <= 0) fail("jieba dictionary '", name, "': no words with a positive frequency");
    build(entries);
    log_total_ = std::log(double(total_));
    const double unknown = 0.0 - log_total_;  // log(1) - log(total)
    for (size_t i = 0; i < freq_.size(); ++i) {
      nodes_[i].log_prob = freq_[i] > 0 ? std::log(double(freq_[i])) - log_total_ : unknown;
      nodes_[i].word = freq_[i] > 0 ? 1 : 0;
    }
  }

  // Lays the trie out level by level: the children of a node are contiguous and sorted by code
  // point, so a lookup is a short scan or a binary search in one small array. UTF-8 byte order is
  // code-point order, so sorting the words' bytes sorts them by characters.
  void build(std::vector<Entry>& entries) {
    // Counting sort by the first character (BMP; the rest share one bucket), then a comparison
    // sort inside each bucket (~50 words): most words start with a 3-byte Han character, and one
    // comparison sort of 349k words costs several times more.
    constexpr size_t kBuckets = kRootDirect + 1;
    auto bucket_of = [](std::string_view w) {
      char32_t c;
      decode_one(w, 0, c);
      return c < kRootDirect ? size_t(c) : kRootDirect;
    };
    std::vector<uint32_t> start(kBuckets + 1, 0);
    std::vector<uint32_t> bucket(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) ++start[(bucket[i] = uint32_t(bucket_of(entries[i].word))) + 1];
    for (size_t b = 0; b < kBuckets; ++b) start[b + 1] += start[b];
    std::vector<Entry> sorted(entries.size());
    {
      std::vector<uint32_t> fill(start.begin(), start.end() - 1);
      for (size_t i = 0; i < entries.size(); ++i) sorted[fill[bucket[i]]++] = entries[i];
    }
    auto less = [](const Entry& a, const Entry& b) {
      const int c = a.word.compare(b.word);
      return c != 0 ? c < 0 : a.line < b.line;
    };
    for (size_t b = 0; b < kBuckets; ++b)
      if (start[b + 1] - start[b] > 1) std::sort(sorted.begin() + start[b], sorted.begin() + start[b + 1], less);
    entries.swap(sorted);
    struct Pending {
      uint32_t lo, hi;  // the words of entries[lo, hi) share this node's prefix
      uint32_t prefix_bytes;
    };
    std::vector<Pending> queue;  // node i's pending range is queue[i] (breadth-first order)
    queue.reserve(entries.size() * 2);
    queue.push_back({0, uint32_t(entries.size()), 0});
    char_.assign(1, 0);
    freq_.assign(1, 0);
    tag_.assign(1, kNoTag);
    std::vector<uint32_t> child_begin;
    for (size_t node = 0; node < queue.size(); ++node) {
      const Pending p = queue[node];
      child_begin.push_back(uint32_t(queue.size()));
      uint32_t i = p.lo;
      // Words equal to the prefix sort first: this node is a word (the last duplicate wins).
      while (i < p.hi && entries[i].word.size() == p.prefix_bytes) {
        freq_[node] = entries[i].freq;
        tag_[node] = entries[i].tag;
        ++i;
      }
      while (i < p.hi) {
        char32_t c;
        const size_t n = decode_one(entries[i].word, p.prefix_bytes, c);
        const std::string_view key = entries[i].word.substr(0, p.prefix_bytes + n);
        uint32_t j = i + 1;
        while (j < p.hi && entries[j].word.size() >= key.size() &&
               entries[j].word.compare(p.prefix_bytes, n, key, p.prefix_bytes, n) == 0)
          ++j;
        if (queue.size() >= kNoChild) fail("jieba dictionary: too many trie nodes");
        queue.push_back({i, j, uint32_t(key.size())});
        char_.push_back(c);
        freq_.push_back(0);
        tag_.push_back(kNoTag);
        i = j;
      }
    }
    child_begin.push_back(uint32_t(queue.size()));  // the end of the last node's children
    nodes_.assign(child_begin.size(), Node{});
    for (size_t i = 0; i < child_begin.size(); ++i) nodes_[i].child_begin = child_begin[i];
    root_direct_.assign(kRootDirect, kNoChild);
    for (uint32_t i = child_begin[0]; i < child_begin[1]; ++i)
      if (char_[i] < kRootDirect) root_direct_[char_[i]] = i;
  }

  // What a DAG step reads, together (one cache line): children of node i are the nodes
  // [nodes_[i].child_begin, nodes_[i + 1].child_begin); nodes_ has one extra entry at the end.
  struct Node {
    double log_prob = 0.0;
    uint32_t child_begin = 0;
    uint32_t word = 0;
  };
  std::vector<Node> nodes_;
  std::vector<char32_t> char_;  // the code point leading to each node (sorted among siblings)
  std::vector<int64_t> freq_;
  std::vector<uint16_t> tag_;
  std::vector<uint32_t> root_direct_;
  size_t lines_ = 0;
  int64_t total_ = 0;
  double log_total_ = 0.0;
  std::vector<std::string> tags_;
};

}  // namespace simad::text
