// tools/simad/cmd_synth.cpp: `simad synth`, the SynthAds generator (include/simad/data/synthads.hpp).
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "simad/core/parallel.hpp"
#include "simad/data/synthads.hpp"

namespace simad::cli {
namespace {

struct SynthOptions {
  std::string out;
  std::string lang = "zh";
  int threads = 0;
  bool quiet = false;
  std::string contact_sheet;
  data::synthads::SynthConfig config;
};

void run_synth(const SynthOptions& opt) {
  data::synthads::SynthConfig cfg = opt.config;
  cfg.lang = opt.lang == "en" ? data::synthads::Language::en : data::synthads::Language::zh;
  cfg.progress = !opt.quiet;
  if (opt.threads > 0) set_num_threads(opt.threads);
  if (!opt.contact_sheet.empty()) {  // only the picture: a quick look at the world
    const data::synthads::RgbImage sheet =
        data::synthads::contact_sheet(data::synthads::default_catalogue(), cfg, 24, 6, 160);
    const std::string& path = opt.contact_sheet;
    const bool jpeg = path.size() >= 4 && (path.ends_with(".jpg") || path.ends_with(".jpeg"));
    data::synthads::detail::write_bytes(path, data::synthads::detail::encode_image(sheet, jpeg ? "jpg" : "png", 88));
    std::cout << "synth: wrote a contact sheet of the first 24 ads to " << opt.contact_sheet << "\n";
    return;
  }
  const data::synthads::SynthSummary s = data::synthads::write_synthads(opt.out, cfg);
  std::cout << "synth: wrote " << s.ads << " ads (" << s.train << " train, " << s.validation << " validation, "
            << s.test << " test; " << s.heldout_categories << " categories held out of training), "
            << s.users << " users, " << s.packages << " packages, " << s.impressions << " impressions, "
            << s.clicks << " clicks to " << opt.out << "\n";
}

}  // namespace

void register_synth(CLI::App& app) {
  auto opt = std::make_shared<SynthOptions>();
  CLI::App* cmd = app.add_subcommand("synth", "Generate SynthAds: synthetic ads (text + image), splits, users and clicks");
  cmd->footer(
      "Writes into DIR: ads.jsonl, train/validation/test.jsonl, images/, categories.jsonl, users.csv,\n"
      "packages.csv, impressions.csv, synthads.json. The same --seed gives the same bytes (docs/synthads.md).\n"
      "Example:\n"
      "  simad synth --out ads --ads 2000 --seed 7");
  CLI::Option* out = cmd->add_option("--out", opt->out, "Output directory (created if needed)")->type_name("DIR");
  CLI::Option* sheet = cmd->add_option("--contact-sheet", opt->contact_sheet,
                                       "Instead: write a contact sheet (PNG, or JPEG for .jpg) of the first 24 ads (product boxes green, "
                                       "distractors red)")
                           ->type_name("FILE");
  out->excludes(sheet);
  cmd->add_option("--ads", opt->config.ads, "Number of ads")->capture_default_str()->check(CLI::Range(1, 10000000));
  cmd->add_option("--seed", opt->config.seed, "Seed of the world")->capture_default_str();
  cmd->add_option("--lang", opt->lang, "Language of the ad copy")->capture_default_str()->check(CLI::IsMember({"zh", "en"}));
  cmd->add_option("--image-size", opt->config.image_size, "Image width and height in pixels")
      ->capture_default_str()
      ->check(CLI::Range(32, 4096));
  cmd->add_option("--format", opt->config.image_format, "Image file format")
      ->capture_default_str()
      ->check(CLI::IsMember({"jpg", "png"}));
  cmd->add_option("--users", opt->config.audience.users, "Number of users")->capture_default_str()->check(CLI::Range(1, 100000000));
  cmd->add_option("--impressions", opt->config.audience.impressions_per_package,
                  "Impressions per ad package and period")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--text-ambiguous", opt->config.text_ambiguous_share,
                  "Share of ads whose copy names only the industry or only generic words")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--image-ambiguous", opt->config.image_ambiguous_share,
                  "Share of ads whose product is tiny or half occluded")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--heldout", opt->config.heldout_category_share, "Share of categories held out of train/validation")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--no-images", [opt](int64_t) { opt->config.write_images = false; },
                "Skip rendering and writing the images (rows keep their image paths)");
  cmd->add_option("--threads", opt->threads, "Threads (default: SIMAD_NUM_THREADS, else all cores)")
      ->type_name("N")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--quiet", opt->quiet, "No progress bar");
  cmd->callback([opt] {
    if (opt->out.empty() && opt->contact_sheet.empty()) throw CLI::RequiredError("--out");
    run_synth(*opt);
  });
}

static const RegisterCommand kSynth{40, "synth", &register_synth};

}  // namespace simad::cli
