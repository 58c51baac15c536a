//! A seeded corpus of Chinese titles such as creators, live rooms and shops write, and the
//! queries people type against it, sampled from the corpus itself.
//!
//! Titles combine places, dishes, products, brands, model numbers, people and the words around
//! them ("杭州西湖醋鱼探店 | 第12集", "华为Mate60 手机壳 防摔 高端"); 8 % are written in
//! traditional characters and 3 % with full-width letters and digits, as such text arrives.

use ferrous_opencc::OpenCC;
use ferrous_opencc::config::BuiltinConfig;
use pinyin::ToPinyin;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One title of the corpus.
#[derive(Debug, Clone)]
pub struct Doc {
    pub id: u32,
    pub title: String,
}

const PLACES: &[&str] = &[
    "北京", "上海", "杭州", "西湖", "成都", "重庆", "长沙", "西安", "厦门", "广州", "深圳", "苏州", "南京", "青岛", "大理",
    "丽江", "拉萨", "桂林", "武汉", "天津", "哈尔滨", "三亚", "洛阳", "开封", "景德镇", "长白山", "黄山", "九寨沟", "鼓浪屿",
    "乌镇", "周庄", "平遥", "敦煌", "喀什", "伊犁", "香港", "澳门", "台北", "高雄", "东京", "首尔", "曼谷", "巴黎", "纽约",
];
const FOODS: &[&str] = &[
    "火锅", "拉面", "小龙虾", "烤鸭", "饺子", "包子", "麻辣烫", "螺蛳粉", "肠粉", "煎饼果子", "臭豆腐", "醋鱼", "担担面",
    "凉皮", "肉夹馍", "羊肉串", "烧烤", "奶茶", "咖啡", "蛋糕", "月饼", "粽子", "汤圆", "豆浆", "油条", "酸菜鱼", "烤鱼",
    "锅包肉", "生煎", "小笼包", "牛肉面", "热干面", "鸭血粉丝汤", "龙井虾仁", "糖醋排骨", "红烧肉", "宫保鸡丁", "麻婆豆腐",
];
const PRODUCTS: &[&str] = &[
    "连衣裙", "手机壳", "蓝牙耳机", "保温杯", "运动鞋", "羽绒服", "口红", "面膜", "茶叶", "充电宝", "机械键盘", "显示器",
    "电饭煲", "空气炸锅", "扫地机器人", "吸尘器", "电动牙刷", "行李箱", "双肩包", "太阳镜", "手表", "项链", "香水", "洗面奶",
    "防晒霜", "卫衣", "牛仔裤", "衬衫", "羊毛衫", "帆布鞋", "拖鞋", "床上四件套", "枕头", "台灯", "投影仪", "平板电脑",
];
const BRANDS: &[&str] = &[
    "华为", "小米", "苹果", "李宁", "安踏", "海尔", "美的", "格力", "农夫山泉", "中国银行", "大疆", "联想", "三星", "索尼",
    "耐克", "阿迪达斯", "优衣库", "无印良品", "完美日记", "花西子", "百雀羚", "云南白药", "同仁堂", "茅台", "五粮液",
    "蜜雪冰城", "喜茶", "瑞幸", "星巴克", "海底捞", "中国农业发展银行", "招商银行", "本田", "丰田", "比亚迪", "长城汽车",
];
const MODELS: &[&str] = &["iPhone", "Mate", "P", "Redmi K", "小米", "nova", "Galaxy S", "Xperia ", "Pro ", "Air "];
const DOING: &[&str] = &[
    "教程", "测评", "开箱", "探店", "日常", "攻略", "合集", "推荐", "分享", "体验", "直播", "挑战", "做法", "评测", "对比",
    "避坑指南", "一日游", "vlog", "全记录", "花絮", "必吃榜", "排行榜", "清单", "好物", "种草", "拔草", "安利",
];
const ADJECTIVES: &[&str] = &[
    "超好吃", "性价比高", "必买", "平价", "高端", "复古", "可爱", "简约", "防摔", "透明", "轻薄", "大容量", "静音", "无线",
    "正宗", "地道", "家常", "网红", "冬季", "夏季", "春季新款", "限量版", "加厚", "纯棉", "真丝", "进口", "国货", "老字号",
];
const PEOPLE: &[&str] = &[
    "宝宝", "猫咪", "狗狗", "妈妈", "大学生", "打工人", "程序员", "老师", "外婆", "闺蜜", "情侣", "一家三口", "独居女孩", "长辈",
];

/// Makes `n` titles from `seed`: the same corpus for the same arguments, on every machine.
pub fn titles(n: usize, seed: u64) -> anyhow::Result<Vec<Doc>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let s2t = OpenCC::from_config(BuiltinConfig::S2t).map_err(|e| anyhow::anyhow!("OpenCC s2t: {e}"))?;
    let mut docs = Vec::with_capacity(n);
    for id in 0..n {
        let pick = |rng: &mut ChaCha8Rng, list: &[&'static str]| *list.choose(rng).unwrap_or(&"");
        let n1: u32 = rng.random_range(1..=99);
        let title = match rng.random_range(0..7) {
            0 => format!("{}{}{} | 第{}集", pick(&mut rng, PLACES), pick(&mut rng, FOODS), pick(&mut rng, DOING), n1),
            1 => format!("{}{}{} {} {}", pick(&mut rng, BRANDS), pick(&mut rng, MODELS), n1, pick(&mut rng, PRODUCTS), pick(&mut rng, ADJECTIVES)),
            2 => format!("{}的{}{}：{}{}", pick(&mut rng, PEOPLE), pick(&mut rng, ADJECTIVES), pick(&mut rng, FOODS), pick(&mut rng, PLACES), pick(&mut rng, DOING)),
            3 => format!("{} {}{} 买前必看", pick(&mut rng, PRODUCTS), pick(&mut rng, BRANDS), pick(&mut rng, DOING)),
            4 => format!("{}{}两天一夜{} 第{}天", pick(&mut rng, PLACES), pick(&mut rng, PLACES), pick(&mut rng, DOING), n1 % 7 + 1),
            5 => format!("【{}】{}{} 型号AB-{:04}", pick(&mut rng, BRANDS), pick(&mut rng, ADJECTIVES), pick(&mut rng, PRODUCTS), rng.random_range(0..10_000)),
            _ => format!("{}教{}做{} {}", pick(&mut rng, PEOPLE), pick(&mut rng, PEOPLE), pick(&mut rng, FOODS), pick(&mut rng, ADJECTIVES)),
        };
        let roll: f64 = rng.random();
        let title = if roll < 0.08 {
            s2t.convert(&title)
        } else if roll < 0.11 {
            title.chars().map(full_width).collect()
        } else {
            title
        };
        docs.push(Doc { id: id as u32, title });
    }
    Ok(docs)
}

fn full_width(c: char) -> char {
    match c {
        '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
        ' ' => '\u{3000}',
        c => c,
    }
}

/// The kinds of query the benchmark times, as people type them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// A dictionary word (火锅).
    Word,
    /// Two words (杭州 火锅).
    TwoWords,
    /// Two to four characters cut anywhere from a title (锅探店).
    Substring,
    /// One character.
    SingleCharacter,
    /// Full pinyin of a word (huoguo).
    Pinyin,
    /// Initials of a word or phrase (hgtd).
    Initials,
    /// Pinyin with the last syllable unfinished, in a search box (huog).
    Prefix,
}

impl QueryKind {
    pub const ALL: [QueryKind; 7] = [
        Self::Word,
        Self::TwoWords,
        Self::Substring,
        Self::SingleCharacter,
        Self::Pinyin,
        Self::Initials,
        Self::Prefix,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Word => "word",
            Self::TwoWords => "two words",
            Self::Substring => "substring",
            Self::SingleCharacter => "single character",
            Self::Pinyin => "pinyin",
            Self::Initials => "initials",
            Self::Prefix => "pinyin prefix (suggest)",
        }
    }

    pub fn suggest(self) -> bool {
        self == Self::Prefix
    }
}

fn han(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

/// The first reading of each character, `ü` typed `v` as pinyin keyboards do.
fn readings(word: &str) -> Vec<String> {
    word.to_pinyin().flatten().map(|p| p.plain().replace('ü', "v")).collect()
}

/// `n` queries of `kind`, sampled from the vocabulary and from `docs` (`folded`: the titles as
/// the engines fold them, so substrings are real ones).
pub fn queries(kind: QueryKind, n: usize, folded: &[String], seed: u64) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ kind as u64);
    let words: Vec<&str> = [PLACES, FOODS, PRODUCTS, BRANDS, PEOPLE, DOING, ADJECTIVES]
        .concat()
        .into_iter()
        .filter(|w| w.chars().all(han) && w.chars().count() >= 2)
        .collect();
    let mut out = Vec::with_capacity(n);
    let mut chars: Vec<char> = folded.iter().take(20_000).flat_map(|t| t.chars()).filter(|&c| han(c)).collect();
    chars.sort_unstable();
    chars.dedup();
    while out.len() < n {
        let word = *words.choose(&mut rng).unwrap_or(&"火锅");
        let q = match kind {
            QueryKind::Word => word.to_owned(),
            QueryKind::TwoWords => format!("{word} {}", words.choose(&mut rng).unwrap_or(&"推荐")),
            QueryKind::Substring => {
                let title: Vec<char> = folded.choose(&mut rng).map(|t| t.chars().collect()).unwrap_or_default();
                let len = rng.random_range(2..=4);
                if title.len() < len {
                    continue;
                }
                let start = rng.random_range(0..=title.len() - len);
                let piece = &title[start..start + len];
                if !piece.iter().all(|&c| han(c)) {
                    continue;
                }
                piece.iter().collect()
            }
            QueryKind::SingleCharacter => chars.choose(&mut rng).map(|c| c.to_string()).unwrap_or_default(),
            QueryKind::Pinyin => readings(word).concat(),
            QueryKind::Initials => readings(word).iter().filter_map(|r| r.chars().next()).collect(),
            QueryKind::Prefix => {
                let r = readings(word);
                let Some((last, head)) = r.split_last() else { continue };
                let cut = rng.random_range(1..=last.len());
                format!("{}{}", head.concat(), &last[..cut])
            }
        };
        if !q.is_empty() {
            out.push(q);
        }
    }
    out
}
