#!/usr/bin/python3
"""Deterministic generator of simad's text corpora (no third-party packages).

  make_text_corpus.py --lines 2400 --seed 1 OUT     the agreement corpus (tests/text/data/corpus.txt)
  make_text_corpus.py --megabytes 12 --seed 2 OUT   the benchmark corpus (>= 10 MB, not committed)

One line per ad, split on "\\n" only: a line may hold "\\r", tabs, U+3000, NBSP, U+2028
and other characters that str.splitlines() would split on, so readers must split bytes on b"\\n".
The mix is what jieba must agree on: Chinese ad copy from templates, English, digits, prices
(¥199.00, 5折, 满300减50, 99.9%), emoji, full-width punctuation and letters, mixed scripts,
whitespace runs, and random Han characters (the HMM path), plus characters at the edges of jieba's
Han range (U+4E00, U+9FD5, U+9FD6) and its ASCII class (+#&._%-).
The same seed gives the same bytes (random.Random with integer seeds, choice/randrange only).
"""
import argparse
import random

PRODUCTS = ["牛仔裤", "连衣裙", "女士牛仔裤", "运动鞋", "手机", "口红", "面膜", "羽绒服", "笔记本电脑",
            "蓝牙耳机", "保温杯", "婴儿奶粉", "洗发水", "机械键盘", "电动牙刷", "行李箱", "太阳镜",
            "真皮钱包", "瑜伽垫", "空气炸锅", "扫地机器人", "智能手表", "护肤套装", "儿童玩具", "茶叶",
            "大米", "咖啡豆", "羊毛衫", "卫衣", "凉鞋", "充电宝", "平板电脑", "电饭煲", "沙发", "床垫"]
ADJECTIVES = ["新款", "时尚", "正品", "爆款", "经典", "轻薄", "高端", "舒适", "超值", "限量", "原装",
              "网红", "百搭", "加厚", "便携", "进口", "纯棉", "韩版", "复古", "简约"]
PROMOS = ["限时特惠", "包邮", "买一送一", "全场五折", "秒杀", "清仓", "第二件半价", "满减", "领券立减",
          "七天无理由退换", "顺丰包邮", "厂家直销", "今日特价", "新品上市", "预售", "抢购"]
PHRASES = ["我来到北京清华大学", "他来到了网易杭研大厦", "小明硕士毕业于中国科学院计算所",
           "工信处女干事每月经过下属科室都要亲口交代24口交换机等技术性器件的安装工作",
           "结婚的和尚未结婚的", "南京市长江大桥", "欢迎新老师生前来就餐", "这是一个伸手不见五指的黑夜",
           "永和服装饰品有限公司", "我不喜欢日本和服", "雷猴回归人间", "李小福是创新办主任也是云计算方面的专家",
           "什么是八一双鹿", "例如我输入一个带“韩玉赏鉴”的标题", "江州市长江大桥参加了长江大桥的通车仪式",
           "石墨烯", "凱特琳", "自定义词", "easy_install jieba", "请问一下怎么样才能在京东上买到便宜的手机",
           "这款面膜补水效果超级好，敏感肌也能用", "老板说今天不打烊，欢迎大家来店里逛逛"]
BRANDS = ["Nike", "Adidas", "iPhone", "iPhone 15 Pro", "华为Mate60", "小米14", "OPPO", "vivo", "Apple",
          "Dior", "SK-II", "L'Oreal", "H&M", "Uniqlo", "C++", "C#", "AT&T", "T恤", "B超", "X光", "5G",
          "Wi-Fi", "USB-C", "4K", "Type-C", "MacBook Air", "PS5", "Xbox", "3D打印", "K歌"]
ENGLISH = ["free shipping", "limited time offer", "Buy now!", "best seller", "new arrival", "50% OFF",
           "summer sale", "Hello World", "the quick brown fox jumps over the lazy dog", "Don't miss it",
           "e-mail: shop@example.com", "https://example.com/item?id=42&ref=ad", "#hashtag", "100% cotton",
           "v2.0.1", "3.14159", "1,299.00", "$19.99", "version_2", "snake_case_name", "a+b=c", "x.5", "..."]
EMOJI = ["🔥", "👍", "🎉", "😀", "❤️", "✨", "💯", "🛒", "🎁", "⭐", "👗", "📱", "🇨🇳", "👨‍👩‍👧"]
FULLWIDTH_PUNCT = list("！，。？：；、【】（）《》“”‘’…—～·「」『』") + ["——", "……"]
FULLWIDTH_WORDS = ["ＡＢＣ", "１２３", "ｉＰｈｏｎｅ", "Ｎｉｋｅ", "５折", "９９元", "　"]
SPACES = [" ", "  ", "\t", "\t\t", " \t ", "\u3000", "\u00a0", "\u2028", "\u0085", "\r", "\u2009", "\x0b",
          "\x0c", "\x1c", "\u180e", "\u200b"]
OTHER_SCRIPTS = ["こんにちは", "セール", "안녕하세요", "Привет", "αβγ", "café", "naïve", "Straße", "ﬁ",
                 "①②③", "Ⅻ", "½", "٣٤٥", "㐀㐁", "\u9fd5\u9fd6\u9fff", "\u4e00\u4e01", "𠀀𠀁"]
ASCII_CLASS = ["+", "#", "&", ".", "_", "%", "-", "++", "#1", "&&", "._%", "-5", "1.2.3", "3.14%", "a.5",
               "50%off", "2024-11-11", "v1.0", "..%%", "A&B", "x_y", "+86", "1+1", "100%", "99.9%"]


def price(r):
    kind = r.randrange(8)
    if kind == 0:
        return "¥%d.%02d" % (r.randrange(1, 10000), r.randrange(100))
    if kind == 1:
        return "%d折" % r.randrange(1, 10)
    if kind == 2:
        return "满%d减%d" % (r.randrange(1, 10) * 100, r.randrange(1, 10) * 10)
    if kind == 3:
        return "%d元" % r.randrange(1, 5000)
    if kind == 4:
        return "仅需%d.%d元" % (r.randrange(1, 999), r.randrange(10))
    if kind == 5:
        return "%d.%d%%" % (r.randrange(100), r.randrange(10))
    if kind == 6:
        return "￥%d" % r.randrange(1, 100000)
    return "%d件" % r.randrange(1, 50)


def random_han(r, n):
    # Mostly common characters (the HMM's emission table) and some rare ones (missing emissions).
    out = []
    for _ in range(n):
        if r.randrange(4):
            out.append(chr(r.randrange(0x4E00, 0x9FA6)))
        else:
            out.append(r.choice("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主"
                                "发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力"))
    return "".join(out)


def ad_line(r):
    parts = []
    for _ in range(r.randrange(1, 7)):
        k = r.randrange(14)
        if k == 0:
            parts.append(r.choice(ADJECTIVES) + r.choice(PRODUCTS))
        elif k == 1:
            parts.append(r.choice(PROMOS))
        elif k == 2:
            parts.append(price(r))
        elif k == 3:
            parts.append(r.choice(BRANDS))
        elif k == 4:
            parts.append(r.choice(PHRASES))
        elif k == 5:
            parts.append(r.choice(ENGLISH))
        elif k == 6:
            parts.append(r.choice(EMOJI) * r.randrange(1, 3))
        elif k == 7:
            parts.append(r.choice(FULLWIDTH_PUNCT))
        elif k == 8:
            parts.append(r.choice(FULLWIDTH_WORDS))
        elif k == 9:
            parts.append(random_han(r, r.randrange(1, 9)))
        elif k == 10:
            parts.append(r.choice(OTHER_SCRIPTS))
        elif k == 11:
            parts.append(r.choice(ASCII_CLASS))
        elif k == 12:
            parts.append(str(r.randrange(0, 10 ** r.randrange(1, 8))))
        else:
            parts.append(r.choice(PRODUCTS) + r.choice(PROMOS))
        if r.randrange(3) == 0:
            parts.append(r.choice(SPACES))
        elif r.randrange(3) == 0:
            parts.append(r.choice(FULLWIDTH_PUNCT))
    line = "".join(parts)
    if r.randrange(20) == 0:
        line = r.choice(SPACES) + line + r.choice(SPACES)
    if r.randrange(40) == 0:  # a lone "\r" (a line cannot hold "\n": see special.jsonl for "\r\n")
        line = line.replace(" ", "\r", 1) if " " in line else line + "\r"
    return line


def bench_line(r):
    # Realistic ad copy only (the benchmark measures the common case, not the exotic one).
    parts = [r.choice(ADJECTIVES) + r.choice(PRODUCTS)]
    for _ in range(r.randrange(2, 7)):
        k = r.randrange(6)
        if k == 0:
            parts.append(r.choice(PROMOS))
        elif k == 1:
            parts.append(price(r))
        elif k == 2:
            parts.append(r.choice(BRANDS))
        elif k == 3:
            parts.append(r.choice(PHRASES))
        elif k == 4:
            parts.append(r.choice(FULLWIDTH_PUNCT))
        else:
            parts.append(r.choice(ADJECTIVES) + r.choice(PRODUCTS) + r.choice(PROMOS))
    return "".join(parts)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--lines", type=int, default=0, help="write this many varied lines")
    p.add_argument("--megabytes", type=float, default=0, help="write ad copy lines up to this size")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    r = random.Random(a.seed)
    with open(a.out, "wb") as f:
        if a.lines:
            for i in range(a.lines):
                line = "" if i % 97 == 13 else ad_line(r)
                f.write(line.encode("utf-8") + b"\n")
        else:
            limit, size = int(a.megabytes * 1e6), 0
            while size < limit:
                b = bench_line(r).encode("utf-8") + b"\n"
                f.write(b)
                size += len(b)


if __name__ == "__main__":
    main()
