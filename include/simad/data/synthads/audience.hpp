// simad/data/synthads/audience.hpp: users, ad packages, impressions and clicks of SynthAds, for the
// lookalike experiment (MODELS.md "Lookalike"). Users have 57 categorical features (demographics,
// device, interests, app usage) and a latent taste: a per-industry taste driven partly by their
// demographics (so features predict it), shared by the industry's categories, plus a per-category
// part (users who like green tea tend to like other teas). A package (one advertiser's ads of one
// category) is shown to random users in two periods; each impression is clicked with a probability
// that grows with the user's taste for the category, scaled so that a package's click-through rate
// sits in the low range of the ION paper (0.2%-0.9%).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "simad/core/rng.hpp"
#include "simad/data/synthads/catalogue.hpp"

namespace simad::data::synthads {

struct UserFeature {
  std::string name;
  int levels;  // values are 0 .. levels-1
};

// The 57 features: 13 demographic/device, 1 interest level per industry (12), 4 activity, and
// app-usage buckets to make 57 (as in the ION paper's user table).
inline std::vector<UserFeature> user_features(const Catalogue& catalogue) {
  std::vector<UserFeature> f = {{"age_band", 7},   {"gender", 2},       {"region", 8},      {"city_tier", 5},
                                {"device", 4},     {"os", 3},           {"education", 6},   {"income_band", 6},
                                {"marital", 3},    {"occupation", 10},  {"has_children", 2}, {"car_owner", 2},
                                {"home_owner", 2}};
  for (const Industry& ind : catalogue.industries) {
    std::string name = "interest_" + ind.en;
    std::replace(name.begin(), name.end(), ' ', '_');
    f.push_back({name, 5});
  }
  for (const char* n : {"active_hour", "purchase_frequency", "average_spend", "membership"}) f.push_back({n, 5});
  for (int k = 1; f.size() < 57; ++k) f.push_back({"app_usage_" + std::string(k < 10 ? "0" : "") + std::to_string(k), 4});
  return f;
}

struct AudienceConfig {
  int users = 20000;
  int impressions_per_package = 600;  // per period
  double ctr_min = 0.002, ctr_max = 0.009;
  double taste_strength = 1.6;        // click odds grow like exp(strength * taste)
};

// A user's features and latent tastes, computed on demand from (seed, user id): no table needed.
class Audience {
 public:
  Audience(const Catalogue& catalogue, uint64_t seed, AudienceConfig config)
      : catalogue_(&catalogue), config_(config), features_(user_features(catalogue)), rng_(seed, 0xA0D1E5CEull) {
    // How demographics shift industry tastes: a fixed random table from the seed.
    Rng effects = rng_.substream(1);
    demographic_effect_.resize(13 * 10 * catalogue.industries.size());
    for (double& e : demographic_effect_) e = 0.35 * effects.next_normal();
  }

  const std::vector<UserFeature>& features() const { return features_; }
  const AudienceConfig& config() const { return config_; }

  // Taste of `user` for each industry (standard-normal-ish).
  std::vector<double> industry_taste(int user) const {
    const std::vector<int> f = demographics(user);
    Rng r = rng_.substream(2).substream(uint64_t(user));
    std::vector<double> taste(catalogue_->industries.size());
    for (size_t i = 0; i < taste.size(); ++i) {
      double t = r.next_normal();
      for (size_t k = 0; k < f.size(); ++k) t += demographic_effect_[(k * 10 + size_t(f[k])) * taste.size() + i];
      taste[i] = t;
    }
    return taste;
  }

  // Taste for one category: the industry's taste plus the user's own liking of this category.
  double category_taste(int user, int category, const std::vector<double>& industry_tastes) const {
    const Rng r = rng_.substream(3).substream(uint64_t(user));
    return industry_tastes[size_t(catalogue_->categories[size_t(category)].industry)] +
           0.6 * r.normal_at(uint64_t(category));
  }

  // All 57 feature values of `user`.
  std::vector<int> feature_values(int user) const {
    std::vector<int> v = demographics(user);
    const std::vector<double> taste = industry_taste(user);
    Rng r = rng_.substream(4).substream(uint64_t(user));
    for (double t : taste) {  // a noisy, bucketed view of the latent taste
      const double z = t + 0.7 * r.next_normal();
      v.push_back(std::clamp(int(std::floor(z + 2.5)), 0, 4));
    }
    while (v.size() < features_.size()) v.push_back(int(r.next_below(uint32_t(features_[v.size()].levels))));
    return v;
  }

 private:
  std::vector<int> demographics(int user) const {
    Rng r = rng_.substream(5).substream(uint64_t(user));
    std::vector<int> v;
    for (size_t k = 0; k < 13; ++k) v.push_back(int(r.next_below(uint32_t(features_[k].levels))));
    return v;
  }

  const Catalogue* catalogue_;
  AudienceConfig config_;
  std::vector<UserFeature> features_;
  Rng rng_;
  std::vector<double> demographic_effect_;
};

struct Impression {
  int period;  // 1 or 2
  int package;
  int user;
  bool clicked;
};

// Impressions and clicks of one package (category `category`) in `period`, from its own stream.
inline std::vector<Impression> package_impressions(const Audience& audience, int package, int category, int period,
                                                   uint64_t seed) {
  const AudienceConfig& cfg = audience.config();
  Rng r = Rng(seed, 0x1C4E5ull).substream(uint64_t(package) * 4 + uint64_t(period));
  const double target_ctr = cfg.ctr_min + (cfg.ctr_max - cfg.ctr_min) * Rng(seed, 0xC7Full).uniform_at(uint64_t(package));
  std::vector<int> users(size_t(cfg.impressions_per_package));
  std::vector<double> odds(users.size());
  double mean_odds = 0.0;
  for (size_t i = 0; i < users.size(); ++i) {
    users[i] = int(r.next_below(uint32_t(cfg.users)));
    const std::vector<double> t = audience.industry_taste(users[i]);
    odds[i] = std::exp(cfg.taste_strength * audience.category_taste(users[i], category, t));
    mean_odds += odds[i];
  }
  mean_odds /= double(std::max<size_t>(users.size(), 1));
  std::vector<Impression> out;
  out.reserve(users.size());
  for (size_t i = 0; i < users.size(); ++i) {
    const double p = std::min(1.0, target_ctr * odds[i] / mean_odds);
    out.push_back({period, package, users[i], r.next_uniform() < p});
  }
  return out;
}

}  // namespace simad::data::synthads
