// simad/data/synthads/catalogue.hpp: the product world of SynthAds. Fine-grained categories
// (green tea, black tea, ...) grouped under coarse industries (tea, ...). Every category has a
// visual signature (shape, colour, pattern) in which it differs from its siblings in ONE attribute
// only, as real sibling products do (the industry fixes the shape and either the colour or the
// pattern), and a lexicon of real Chinese product words that jieba's dictionary knows, plus English.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace simad::data::synthads {

struct Colour {
  uint8_t r = 0, g = 0, b = 0;
};

// Object silhouettes; each fits the square [-1, 1]^2 of its own unit coordinates (raster.hpp).
enum class Shape : uint8_t {
  circle, rounded_square, hexagon, ring, diamond, ellipse, star, triangle, pentagon, cross, capsule, square
};
inline constexpr int kShapeCount = 12;

// Surface patterns, in the object's unit coordinates.
enum class Pattern : uint8_t { solid, stripes_horizontal, stripes_vertical, dots, checker, stripes_diagonal };
inline constexpr int kPatternCount = 6;

inline const char* shape_name(Shape s) {
  static constexpr const char* names[kShapeCount] = {"circle", "rounded_square", "hexagon", "ring",
                                                     "diamond", "ellipse", "star", "triangle",
                                                     "pentagon", "cross", "capsule", "square"};
  return names[int(s)];
}
inline const char* pattern_name(Pattern p) {
  static constexpr const char* names[kPatternCount] = {"solid", "stripes_horizontal", "stripes_vertical",
                                                       "dots", "checker", "stripes_diagonal"};
  return names[int(p)];
}

struct Signature {
  Shape shape = Shape::circle;
  Colour primary, secondary;  // secondary: the pattern's second colour
  Pattern pattern = Pattern::solid;
};

struct Category {
  int id = 0;            // index in Catalogue::categories
  int industry = 0;      // index in Catalogue::industries
  std::string zh, en;    // product word (in jieba's dictionary) and English name
  Signature look;
};

struct Industry {
  int id = 0;
  std::string zh, en;    // coarse word ("茶叶", "tea"): what a text-ambiguous ad names
  Shape shape = Shape::circle;
  bool siblings_differ_in_colour = true;  // else in pattern
  std::vector<int> categories;
};

struct Catalogue {
  std::vector<Industry> industries;
  std::vector<Category> categories;
};

namespace detail {

inline Colour shade(Colour c, double f) {  // f < 1 darker, > 1 lighter (towards white)
  auto channel = [f](uint8_t v) {
    const double x = f <= 1.0 ? v * f : v + (255.0 - v) * (f - 1.0);
    return uint8_t(x < 0 ? 0 : x > 255 ? 255 : x + 0.5);
  };
  return {channel(c.r), channel(c.g), channel(c.b)};
}

struct IndustrySpec {
  const char* zh;
  const char* en;
  Shape shape;
  bool by_colour;
  Colour base;                                  // the shared colour when siblings differ in pattern
  std::array<const char*, 6> zh_words, en_words;
  std::array<Colour, 6> colours;                // per sibling when they differ in colour
};

}  // namespace detail

// The built-in catalogue: 12 industries x 6 categories = 72 fine categories. Every zh word is an
// entry of jieba's dict.txt (checked by tests/synthads against the installed dictionary).
inline const Catalogue& default_catalogue() {
  static const Catalogue catalogue = [] {
    using detail::IndustrySpec;
    const std::array<Colour, 6> hues = {{{200, 45, 45}, {235, 135, 35}, {225, 205, 50},
                                         {60, 165, 75}, {45, 95, 200}, {135, 65, 175}}};
    const std::vector<IndustrySpec> specs = {
        {"茶叶", "tea", Shape::circle, true, {}, {"绿茶", "红茶", "乌龙茶", "普洱茶", "菊花茶", "茉莉花茶"},
         {"green tea", "black tea", "oolong tea", "pu-erh tea", "chrysanthemum tea", "jasmine tea"},
         {{{70, 160, 60}, {150, 40, 30}, {195, 130, 45}, {95, 60, 35}, {230, 205, 60}, {230, 230, 205}}}},
        {"服装", "apparel", Shape::rounded_square, false, {50, 90, 170},
         {"牛仔裤", "羽绒服", "毛衣", "衬衫", "连衣裙", "外套"},
         {"jeans", "down jacket", "sweater", "shirt", "dress", "coat"}, hues},
        {"家居", "home", Shape::hexagon, true, {}, {"棉被", "沙发", "枕头", "床垫", "窗帘", "地毯"},
         {"quilt", "sofa", "pillow", "mattress", "curtain", "carpet"}, hues},
        {"饰品", "jewellery", Shape::ring, true, {}, {"手链", "项链", "耳环", "戒指", "手表", "发夹"},
         {"bracelet", "necklace", "earrings", "ring", "watch", "hair clip"},
         {{{212, 175, 55}, {192, 192, 200}, {230, 120, 150}, {60, 180, 170}, {120, 80, 40}, {40, 40, 45}}}},
        {"数码", "electronics", Shape::diamond, false, {70, 70, 80},
         {"手机", "耳机", "键盘", "鼠标", "相机", "音箱"},
         {"phone", "headphones", "keyboard", "mouse", "camera", "speaker"}, hues},
        {"化妆品", "cosmetics", Shape::ellipse, true, {}, {"口红", "面膜", "香水", "眼霜", "粉底", "洗面奶"},
         {"lipstick", "face mask", "perfume", "eye cream", "foundation", "cleanser"},
         {{{190, 20, 60}, {235, 235, 240}, {240, 170, 200}, {170, 140, 220}, {225, 190, 155}, {150, 210, 230}}}},
        {"食品", "food", Shape::star, true, {}, {"饼干", "巧克力", "坚果", "蜂蜜", "月饼", "牛奶"},
         {"biscuits", "chocolate", "nuts", "honey", "mooncake", "milk"},
         {{{215, 170, 100}, {90, 50, 30}, {160, 110, 60}, {240, 180, 20}, {200, 120, 50}, {245, 245, 240}}}},
        {"鞋子", "shoes", Shape::triangle, false, {180, 60, 50},
         {"运动鞋", "高跟鞋", "拖鞋", "靴子", "凉鞋", "皮鞋"},
         {"sneakers", "high heels", "slippers", "boots", "sandals", "leather shoes"}, hues},
        {"箱包", "bags", Shape::pentagon, true, {}, {"背包", "钱包", "手提包", "行李箱", "书包", "腰包"},
         {"backpack", "wallet", "handbag", "suitcase", "school bag", "waist bag"}, hues},
        {"厨具", "kitchenware", Shape::cross, false, {90, 150, 150},
         {"炒锅", "菜刀", "电饭煲", "水壶", "砧板", "餐具"},
         {"wok", "kitchen knife", "rice cooker", "kettle", "chopping board", "tableware"}, hues},
        {"运动", "sports", Shape::capsule, true, {}, {"篮球", "足球", "羽毛球", "球拍", "哑铃", "跳绳"},
         {"basketball", "football", "badminton", "racket", "dumbbell", "jump rope"}, hues},
        {"家电", "appliances", Shape::square, false, {200, 200, 210},
         {"冰箱", "空调", "洗衣机", "电视", "风扇", "台灯"},
         {"refrigerator", "air conditioner", "washing machine", "television", "fan", "desk lamp"}, hues},
    };
    Catalogue c;
    for (const IndustrySpec& s : specs) {
      Industry ind;
      ind.id = int(c.industries.size());
      ind.zh = s.zh;
      ind.en = s.en;
      ind.shape = s.shape;
      ind.siblings_differ_in_colour = s.by_colour;
      for (int k = 0; k < 6; ++k) {
        Category cat;
        cat.id = int(c.categories.size());
        cat.industry = ind.id;
        cat.zh = s.zh_words[size_t(k)];
        cat.en = s.en_words[size_t(k)];
        cat.look.shape = s.shape;
        if (s.by_colour) {  // same (solid) pattern, own colour
          cat.look.primary = s.colours[size_t(k)];
          cat.look.pattern = Pattern::solid;
        } else {            // same colour, own pattern
          cat.look.primary = s.base;
          cat.look.pattern = Pattern(k);
        }
        const bool light = int(cat.look.primary.r) + cat.look.primary.g + cat.look.primary.b > 500;
        cat.look.secondary = detail::shade(cat.look.primary, light ? 0.55 : 1.6);
        ind.categories.push_back(cat.id);
        c.categories.push_back(std::move(cat));
      }
      c.industries.push_back(std::move(ind));
    }
    return c;
  }();
  return catalogue;
}

}  // namespace simad::data::synthads
