"""Teachers write the player's request for a sampled target (DESIGN §2, generate).

A teacher sees the six hidden parameters and writes what a player might type;
the pair (request, target) becomes training data. The template teacher is the
offline default, so it has to produce text that a model can only fit by reading
meaning: every salient axis (>= HIGH_AT or <= LOW_AT) is expressed, with degree
words that follow the magnitude, through many synonyms, sentence frames and
scenes, and never through a number or an axis name (those would be leaks the
filter stage drops, and shortcuts a model would learn instead).

All randomness comes from the caller's rng, so a seed reproduces a dataset.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from pipeline.tasks.hidden_params import constraints_for, target_dict

LANGUAGES: tuple[str, ...] = ("en", "ja")

# Inclusive character bounds; the filter stage drops rows outside them anyway.
_LENGTH_BOUNDS = {"en": (25, 280), "ja": (10, 140)}
# Regenerations before a request that will not fit is considered a bug.
_ATTEMPTS = 12


@dataclass(frozen=True)
class TeacherOutput:
    text: str
    # One {"axis", "direction", "phrase"} per constraint, in constraints_for order;
    # "phrase" is the substring of text that carries it, for audits and filters.
    expressed: list[dict]
    usage: dict = field(default_factory=dict)


class Teacher(Protocol):
    name: str

    def write(self, target: dict[str, int], language: str, rng: random.Random) -> TeacherOutput: ...


@dataclass(frozen=True)
class TeacherBatch:
    """What a remote teacher's ``write_many`` returns: one output per item, in item order.

    An item is None when the teacher stopped before writing it; ``stopped_reason``
    then says why (budget exhausted, cancelled, API error), for the run's log.
    """

    outputs: list[TeacherOutput | None]
    stopped_reason: str | None = None


# ---------------------------------------------------------------------------
# Phrase banks.
#
# Written as text so a reviewer reads phrases, not tuples. A header line names
# "axis direction"; each other line is "<class><levels>: item | item | ..." (a tag
# may repeat, to keep lines short).
# Levels say which magnitudes an item may express: 1 = mild (65-74 / 26-35),
# 2 = clear (75-84 / 16-25), 3 = extreme (>= 85 / <= 15).
# Classes: g = gradable, takes a degree adverb for its level; p = proportion,
# takes "mostly"/"completely"-style adverbs; m = already mild (Japanese -め),
# takes only soft adverbs; a = used bare, before a noun; t = used bare, after a
# noun (English only: "with lots of synths").
# Japanese items are noun modifiers; "attr/te" overrides the connective form
# where it cannot be derived from the ending.
# ---------------------------------------------------------------------------

_EN_BANKS_TEXT = """
energy high
g123: upbeat | energetic | lively | intense | punchy | peppy | bouncy | fast-paced | rousing | hyped-up | driving
g123: spirited | hard-hitting | fiery
g3: frantic | explosive
a23: high-octane | action-packed | pumped-up | pumping | adrenaline-fueled
a3: heart-pounding | full-throttle | breakneck
t1: with a bit of kick to it | with a slightly quicker pace | with a little pep in its step | that moves along nicely
t123: that keeps things moving
t23: with a driving beat | that gets my heart racing | with a fast tempo | that makes me want to run | to get hyped to
t23: with lots of drive | that really moves
t3: that goes full throttle | with a pounding beat | that could wake the dead | with tons of drive

energy low
g123: calm | mellow | sleepy | laid-back | chill | relaxed | soothing | quiet | slow | peaceful | tranquil | unhurried
g123: lazy | low-key | serene | drowsy | subdued
a23: hushed | slow-moving
t1: a bit low on pep | without much punch | that isn't in a hurry | on the slower side
t123: to unwind to | that takes its time
t23: with a slow tempo | like a lullaby | with a lazy groove
t3: that could put me to sleep | to fall asleep to | at a slow crawl | with barely any pulse

warmth high
g123: warm | cozy | tender | heartfelt | inviting | comforting | homey | intimate | loving | sweet | heartwarming
g123: affectionate | friendly | soulful
a23: snug | warm and fuzzy
t1: with a bit of heart | with a hint of coziness | that feels like a friendly smile | a little on the cozy side
t123: like a fireplace | like a warm blanket | like a cup of cocoa | that feels like home
t23: like a hug | with a lot of heart | that wraps around you | like a kind grandma's kitchen
t3: like sitting by a crackling fire | like the biggest hug ever | that melts your heart

warmth low
g123: cold | icy | clinical | detached | distant | chilly | aloof | sterile | frosty | impersonal | stark | austere
g123: unfeeling
a23: emotionless | glacial
a3: frigid | ice-cold
t1: with a slight chill to it | a bit on the cold side | that feels a little distant | like a stranger passing by
t123: like an empty hospital hallway | that keeps you at arm's length | with a cold edge
t23: like a frozen lake | that feels emotionally distant | like an abandoned space station
t3: with no heart at all | like a morgue | without a shred of tenderness

brightness high
g123: bright | sparkly | sunny | cheerful | radiant | happy | shiny | colorful | luminous | joyful | breezy | glowing
g123: vibrant
a123: major-key
a23: shimmering | glittering
a3: dazzling | blindingly bright
t1: with a hint of sunshine | with a glimmer of light | like a morning in spring | a little on the sunny side
t123: in a major key | like a clear blue sky | with a sunny vibe
t23: that sounds like sunshine | full of sparkle | that makes everything feel golden
t3: with sunshine pouring out of it | like a cloudless summer day

brightness low
g123: dark | gloomy | murky | moody | somber | brooding | shadowy | melancholic | bleak | grim | ominous | dim
g123: sinister | dreary
a123: minor-key
a23: foreboding
a3: pitch-black
t1: with a hint of gloom | a bit on the dark side | that feels like a rainy evening | with a few clouds in it
t123: in a minor key | like walking through fog | with a shadowy vibe
t23: full of shadows | like a stormy night
t3: like a moonless night | without a ray of sunshine

acousticness high
g123: organic | natural-sounding | folky | earthy | woody | raw | live-sounding | rootsy
p123: acoustic
a23: unplugged | hand-played
t1: with some acoustic guitar in it | with a few real instruments mixed in | with a touch of acoustic guitar
t1: a bit on the acoustic side
t123: with guitar and piano
t23: with live instruments | with real instruments | played on real instruments | like a band jamming in a living room
t23: that sounds like a campfire singalong | with a fiddle and an upright bass
t3: like just a guy and his guitar | with only acoustic instruments | with no synths at all | with nothing plugged in

acousticness low
g123: synthetic | synthy | glitchy | robotic | processed | techy
p123: electronic | digital
a23: synth-heavy | EDM-ish | computerized | programmed | electro | techno-ish
t1: with some synth in it | with a few electronic bits | with a bit of electronic flavor | a bit on the electronic side
t123: with a drum machine | with a digital sheen
t23: with lots of synths | full of synths | that sounds like a laptop made it | built from synths and drum machines
t3: made entirely on a computer | with barely any real instruments | with no live instruments
t3: that's all beeps and bass

complexity high
g123: intricate | layered | progressive | busy | complex | elaborate | sophisticated | technical | dense | proggy
g123: twisty | unpredictable | detailed | ornate
a23: multi-layered
t1: with some interesting twists | with a few extra layers | with a bit more going on than usual
t1: a bit on the intricate side
t123: that rewards close listening | with clever chord changes
t23: with lots going on | with tricky rhythms | full of twists and turns | with a lot of moving parts
t3: with tons of layers | with odd time signatures | with something new every bar

complexity low
g123: simple | minimal | repetitive | straightforward | plain | uncomplicated | sparse | basic | clean | predictable
a123: stripped-down | minimalist
a23: bare-bones | loop-based
t1: without too much going on | that doesn't try too hard | a bit light on layers | with a fairly plain structure
t123: that keeps it simple | with nothing fancy going on
t23: with just a few notes | that just loops | with not a lot going on
t3: with barely any layers | like a simple nursery rhyme | with a single repeating riff
t3: with the same riff over and over

nostalgia high
g123: retro | old-school | nostalgic | vintage | classic | old-timey | wistful | dusty | old-fashioned
a23: throwback | bygone | golden-age
t1: with a hint of the past | that takes me back a little | with a slightly vintage touch | a bit on the retro side
t123: like an old cassette tape | like something from my parents' era | with an old-school vibe
t123: like a faded photograph | that sounds like it's from a dusty record shop
t23: that reminds me of summer vacations as a kid | like my childhood | like an old arcade
t23: like my grandpa's record collection | like Saturday morning cartoons | like an old VHS tape
t3: that takes me way back | straight out of my childhood

nostalgia low
g123: modern | fresh | futuristic | contemporary | sleek | trendy | innovative | forward-looking | current
a23: cutting-edge | next-gen | up-to-date
a3: state-of-the-art | ultra-modern
t1: with a slightly modern touch | with a contemporary polish | a bit on the modern side
t1: like what's trending right now
t123: with a fresh sound | with a modern edge
t23: that sounds like it came out yesterday | that sounds brand new | that feels like tomorrow
t3: like something from the future | with nothing old-fashioned about it | that doesn't feel retro at all
"""

_JA_BANKS_TEXT = """
energy high
g123: 激しい | アップテンポな | ノリノリな | 元気な | エネルギッシュな | 疾走感がある/疾走感があって
g123: 勢いがある/勢いがあって | パワフルな | テンポが速い | 盛り上がる/盛り上がって | 躍動感がある/躍動感があって
g123: ハイテンションな | アクティブな | 力強い | 弾けるような
m1: 激しめの | テンポ速めの | テンション高めの
a23: アゲアゲの | 血が騒ぐ/血が騒いで | 走り出したくなるような | 攻めた
a3: 限界までぶち上がる/限界までぶち上がって | 爆発するような

energy low
g123: 落ち着いた | 穏やかな | 静かな | まったりした | ゆったりした | のんびりした | チルな | ゆるい
g123: リラックスできる/リラックスできて | しっとりした | スローな | 眠くなるような | 癒やされる/癒やされて | 物静かな
m1: 静かめの | テンション低めの | テンポ遅めの | ゆっくりめの
a23: スローテンポの | 子守唄みたいな | 眠りを誘うような
a3: 今にも眠れそうな | 寝落ちできるような

warmth high
g123: 温かい | あったかい | ほっこりした | 優しい | 心温まる/心温まって | 包み込むような | 人懐っこい | 柔らかい
g123: 親しみやすい | ハートフルな | ぬくもりがある/ぬくもりがあって | 家庭的な | ほっとする/ほっとして | まろやかな
m1: あったかめの | 優しめの
a123: 暖炉の前みたいな | 毛布にくるまってるような | 陽だまりみたいな
a23: おばあちゃんちみたいな | ぎゅっと抱きしめられるような | 家に帰ってきたような | ぽかぽかの
a3: 心の底からあったまる/心の底からあったまって

warmth low
g123: 冷たい | クールな | 無機質な | 淡々とした | 冷ややかな | そっけない | ドライな | 冷めた | ひんやりした
g123: よそよそしい | 冷徹な | 温度が低い
m1: クールめの | ドライめの
a123: 氷みたいな
a23: 突き放したような
a3: 凍てつくような | 感情がない | 人の気配がまったくない

brightness high
g123: 明るい | キラキラした | 爽やかな | 晴れやかな | 華やかな | 陽気な | ポップな | きらびやかな | まぶしい | 軽やかな
g123: 楽しげな | カラフルな | 朗らかな | ハッピーな
m1: 明るめの
a123: メジャーキーの | 長調の | 青空みたいな
a23: 太陽みたいな | 光があふれるような
a3: 目がくらむほど明るい

brightness low
g123: 暗い | ダークな | 陰鬱な | 重苦しい | どんよりした | 不穏な | 物悲しい | 切ない | 薄暗い | 影がある/影があって
g123: 闇っぽい | 重たい | メランコリックな
m1: 暗めの | ダーク寄りの
a123: マイナーキーの | 短調の | 霧の中みたいな
a23: 雨の夜みたいな
a3: 月のない夜みたいな | 光がまったく差さない

acousticness high
p123: アコースティックな | 生音っぽい
g123: ナチュラルな | 素朴な | フォークっぽい | 弾き語りっぽい | バンドの生演奏っぽい | オーガニックな
g123: 木の響きがする/木の響きがして
m1: アコースティック寄りの | 生音多めの
a123: 焚き火を囲んで歌うような
a23: 生楽器メインの | アンプラグドな | 生音中心の | ギターとピアノが主役の | 生演奏の
a3: アコギとピアノだけの | シンセなしの | 電子音なしの | ギターだけの | 生楽器だけの

acousticness low
p123: デジタルな | エレクトロニックな | 電子的な | 打ち込みっぽい
g123: テクノっぽい | EDMっぽい | 機械的な | サイバーな | シンセっぽい | 電子音っぽい | ロボットっぽい
m1: シンセ多めの | エレクトロ寄りの | 電子音多めの
a23: 打ち込みの | 電子音メインの | シンセが主役の | エレクトロ系の | シンセバリバリの
a3: 生楽器なしの | 全部打ち込みの | パソコンだけで作ったような | 電子音だけの

complexity high
g123: 複雑な | 凝った | 緻密な | 重層的な | プログレっぽい | 展開が多い | テクニカルな | 入り組んだ | 音数が多い
g123: 作り込まれた | 奥深い | 聴きごたえがある/聴きごたえがあって | 込み入った | 目まぐるしい
m1: 展開多めの | 音数多めの
a23: 変拍子が入った | 仕掛けがたくさんある/仕掛けがたくさんあって
a3: 変拍子だらけの | 展開が読めない

complexity low
g123: シンプルな | ミニマルな | 単純な | 繰り返しが多い | 音数が少ない | ループっぽい | わかりやすい | すっきりした
g123: 飾り気がない | 素直な | ベーシックな | あっさりした
m1: 音数少なめの | 展開少なめの
a23: 同じフレーズを繰り返すような | ループ系の
a3: 同じフレーズを繰り返すだけの | 音がほとんどない

nostalgia high
g123: 懐かしい | レトロな | 昭和っぽい | ノスタルジックな | 昔ながらの | ヴィンテージな | 昔のゲームっぽい | 古風な
g123: 親の世代っぽい | 平成初期っぽい | 古めかしい | 郷愁を誘う/郷愁を誘って
m1: 懐かしめの | レトロ寄りの | 古めの
a123: 古いカセットテープみたいな | セピア色の | 古き良き時代の
a23: 夏休みを思い出すような | 子どもの頃を思い出すような | 往年の名曲みたいな | 昔のアーケードみたいな
a3: タイムスリップしたような | おじいちゃんのレコード棚にありそうな

nostalgia low
g123: 今っぽい | 近未来的な | モダンな | 未来っぽい | 先進的な | 斬新な | 洗練された | 今どきの | フレッシュな | 今風の
g123: 最先端っぽい | トレンド感がある/トレンド感があって
m1: 新しめの | モダン寄りの
a123: 新鮮な
a23: 最先端の | 出たばかりみたいな
a3: 未来から来たような | 古さをまったく感じない
"""


class _Entry(NamedTuple):
    cls: str
    levels: tuple[int, ...]
    text: str


def _parse_banks(source: str) -> dict[tuple[str, str], tuple[_Entry, ...]]:
    banks: dict[tuple[str, str], list[_Entry]] = {}
    current: list[_Entry] = []
    for raw in source.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        if ":" not in line:
            axis, direction = line.split()
            current = banks.setdefault((axis, direction), [])
            continue
        tag, items = line.split(":", 1)
        levels = tuple(int(char) for char in tag[1:])
        current.extend(_Entry(tag[0], levels, item.strip()) for item in items.split("|"))
    return {key: tuple(entries) for key, entries in banks.items()}


_EN_BANKS = _parse_banks(_EN_BANKS_TEXT)
_JA_BANKS = _parse_banks(_JA_BANKS_TEXT)

# Degree adverbs per class and level; "" lets a clear (level 2) word stand bare.
_EN_ADVERBS = {
    "g": {
        3: (
            "extremely",
            "super",
            "incredibly",
            "insanely",
            "ridiculously",
            "seriously",
            "totally",
            "absolutely",
            "utterly",
            "crazy",
            "really really",
            "unbelievably",
        ),
        2: ("very", "really", "pretty", "quite", "properly", "decidedly", "genuinely", ""),
        1: (
            "fairly",
            "somewhat",
            "kind of",
            "a bit",
            "slightly",
            "a little",
            "mildly",
            "reasonably",
            "rather",
            "sort of",
        ),
    },
    "p": {
        3: ("completely", "fully", "entirely", "totally", "purely", "all", "thoroughly"),
        2: ("mostly", "largely", "mainly", "heavily", "very", ""),
        1: ("partly", "somewhat", "slightly", "a bit", "kind of", "a little", "lightly"),
    },
}
_JA_ADVERBS = {
    "g": {
        3: (
            "めちゃくちゃ",
            "めっちゃ",
            "すごく",
            "ものすごく",
            "超",
            "とびきり",
            "思いっきり",
            "最高に",
            "とことん",
            "ひたすら",
            "とにかく",
        ),
        2: ("かなり", "けっこう", "だいぶ", "しっかり", "なかなか", "相当", "とても", ""),
        1: ("わりと", "ちょっと", "少し", "やや", "ほんのり", "ちょっとだけ", "なんとなく", "ほんの少し", "そこそこ"),
    },
    "p": {
        3: ("完全に", "全部", "がっつり", "徹底的に", "とことん"),
        2: ("ほぼ", "ほとんど", "かなり", "しっかり", ""),
        1: ("ちょっと", "少し", "ほんのり", "やや", "多少"),
    },
    "m": {1: ("", "ちょっと", "ちょい", "少し", "やや", "わりと")},
}
# Negating the opposite pole ("not upbeat at all" = very calm) is how players
# often put the extremes, and "not too ..." the mild low end.
_EN_NEGATIONS = {
    3: ("that's not {w} at all", "that isn't {w} in the slightest", "that's anything but {w}"),
    1: ("that's not too {w}", "that isn't overly {w}"),
}
_JA_NEGATIONS = {3: ("全然", "まったく", "ちっとも"), 1: ("あんまり", "そんなに")}
_NEGATION_RATE = 0.12
# "Not folky at all" does not mean electronic, so acousticness is never negated.
_NEGATABLE_AXES = ("energy", "warmth", "brightness", "complexity", "nostalgia")


def _level(value: int, direction: str) -> int:
    if direction == "high":
        return 3 if value >= 85 else 2 if value >= 75 else 1
    return 3 if value <= 15 else 2 if value <= 25 else 1


def _opposite(direction: str) -> str:
    return "low" if direction == "high" else "high"


def _usable(entries: tuple[_Entry, ...], level: int) -> list[_Entry]:
    return [entry for entry in entries if level in entry.levels]


# ---------------------------------------------------------------------------
# Shared scene and context material. A scene tagged with constraints is only
# used when the target has them, so a "boss battle" never asks for sleepy music.
# ---------------------------------------------------------------------------


class _Scene(NamedTuple):
    text: str
    implies: tuple[tuple[str, str], ...]


def _scenes(rows: tuple[tuple[str, str], ...]) -> tuple[_Scene, ...]:
    parsed = []
    for text, tags in rows:
        implies = tuple((tag[:-1], "high" if tag.endswith("+") else "low") for tag in tags.split())
        parsed.append(_Scene(text, implies))
    return tuple(parsed)


_EN_SCENES = _scenes(
    (
        ("a boss battle", "energy+"),
        ("a rainy cafe", ""),
        ("a summer festival", "brightness+"),
        ("a night drive", ""),
        ("a dungeon crawl", ""),
        ("a quiet library", "energy-"),
        ("a snowy village", ""),
        ("a victory lap", "energy+ brightness+"),
        ("a late-night study session", "energy-"),
        ("a town square at noon", ""),
        ("the shop menu", ""),
        ("the title screen", ""),
        ("a fishing minigame", ""),
        ("the crafting menu", ""),
        ("a chase scene", "energy+"),
        ("a sad farewell", "brightness-"),
        ("a beach level", "brightness+"),
        ("a haunted mansion", "brightness-"),
        ("a space station", ""),
        ("a lazy Sunday morning", "energy-"),
        ("a road trip", ""),
        ("a cooking minigame", ""),
        ("a training montage", "energy+"),
        ("a campfire at night", "warmth+"),
        ("a puzzle room", ""),
        ("a train ride through the countryside", ""),
        ("a morning market", ""),
        ("a rooftop at sunset", ""),
        ("a forest path", ""),
        ("a stealth mission", ""),
        ("the character select screen", ""),
        ("a desert level", ""),
        ("a pirate ship", ""),
        ("a mountain pass", ""),
        ("a cozy inn", "warmth+"),
        ("an underwater cave", ""),
        ("a neon-lit cyberpunk city", "acousticness- nostalgia-"),
        ("a school festival", ""),
        ("a farming sim", ""),
        ("a racing level", "energy+"),
        ("a detective's office", ""),
        ("a tea shop", ""),
        ("a wedding scene", ""),
        ("the final boss", "energy+"),
        ("a hidden garden", ""),
        ("a ghost ship", "brightness-"),
        ("a slow walk home", "energy-"),
        ("a rainy bus stop", ""),
    )
)
_JA_SCENES = _scenes(
    (
        ("ボス戦", "energy+"),
        ("雨の日のカフェ", ""),
        ("夏祭り", "brightness+"),
        ("夜のドライブ", ""),
        ("ダンジョン探索", ""),
        ("静かな図書館", "energy-"),
        ("雪の村", ""),
        ("勝利の凱旋", "energy+ brightness+"),
        ("深夜の勉強タイム", "energy-"),
        ("町の広場", ""),
        ("ショップ画面", ""),
        ("タイトル画面", ""),
        ("釣りのミニゲーム", ""),
        ("エンディング", ""),
        ("追いかけっこ", "energy+"),
        ("お別れ", "brightness-"),
        ("海辺のステージ", "brightness+"),
        ("お化け屋敷", "brightness-"),
        ("宇宙ステーション", ""),
        ("のんびりした日曜日", "energy-"),
        ("温泉旅館", "warmth+"),
        ("料理のミニゲーム", ""),
        ("特訓", "energy+"),
        ("キャンプファイヤー", "warmth+"),
        ("謎解きの部屋", ""),
        ("田舎を走る電車", ""),
        ("朝の市場", ""),
        ("夕暮れの屋上", ""),
        ("森の小道", ""),
        ("潜入ミッション", ""),
        ("キャラ選択画面", ""),
        ("砂漠のステージ", ""),
        ("海賊船", ""),
        ("山道", ""),
        ("水中の洞窟", ""),
        ("ネオンのサイバー都市", "acousticness- nostalgia-"),
        ("文化祭", ""),
        ("農場ゲーム", ""),
        ("レースゲーム", "energy+"),
        ("探偵事務所", ""),
        ("喫茶店", ""),
        ("結婚式", ""),
        ("ラスボス戦", "energy+"),
        ("秘密の庭園", ""),
        ("幽霊船", "brightness-"),
        ("放課後の教室", ""),
        ("商店街", ""),
        ("神社の境内", ""),
        ("雨のバス停", ""),
    )
)


def _pick_scene(scenes: tuple[_Scene, ...], constraints: list[dict[str, str]], rng: random.Random) -> str:
    present = [(c["axis"], c["direction"]) for c in constraints]
    fitting = [scene.text for scene in scenes if all(tag in present for tag in scene.implies)]
    return rng.choice(fitting)


def _neutral_axes(values: Mapping[str, int], constraints: list[dict[str, str]]) -> list[str]:
    salient = [c["axis"] for c in constraints]
    return [axis for axis in values if axis not in salient]


def _hint_rate(constraints: list[dict[str, str]]) -> float:
    """Unconstrained targets lean on hints and scenes to say anything at all."""
    return 0.6 if not constraints else 0.2


def _cap(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _locate(text: str, phrase: str) -> str:
    """The phrase as it appears in text, after capitalisation or lowercasing."""
    start = text.lower().find(phrase.lower())
    if start < 0:
        raise AssertionError(f"phrase {phrase!r} missing from {text!r}")
    return text[start : start + len(phrase)]


# ---------------------------------------------------------------------------
# English
# ---------------------------------------------------------------------------

_EN_NOUNS = (
    "track",
    "song",
    "tune",
    "piece",
    "theme",
    "loop",
    "soundtrack",
    "number",
    "jam",
    "groove",
    "instrumental",
    "melody",
    "background track",
)
_EN_MASS_NOUNS = ("music", "tunes", "background music", "beats", "vibes", "sounds")
_EN_NEUTRAL_ADJECTIVES = (
    "balanced",
    "middle-of-the-road",
    "fairly neutral",
    "versatile",
    "all-purpose",
    "unremarkable in a good way",
)

_EN_MAIN_FRAMES = (
    ("can you play {d}", "?"),
    ("could you play {d}", "?"),
    ("can you put on {d}", "?"),
    ("could you put on {d} for me", "?"),
    ("would you mind playing {d}", "?"),
    ("mind putting on {d}", "?"),
    ("please play {d}", "."),
    ("play {d}", "."),
    ("play me {d}", "."),
    ("put on {d}", "."),
    ("I want {d}", "."),
    ("I'd like {d}", "."),
    ("I'd love {d}", "."),
    ("I need {d}", "."),
    ("I really need {d} right now", "."),
    ("I'm in the mood for {d}", "."),
    ("in the mood for {d}", "."),
    ("I'm looking for {d}", "."),
    ("looking for {d}", "."),
    ("give me {d}", "."),
    ("gimme {d}", "."),
    ("hit me with {d}", "."),
    ("any chance of {d}", "?"),
    ("do you have {d}", "?"),
    ("got {d}", "?"),
    ("how about {d}", "?"),
    ("let's hear {d}", "."),
    ("let me hear {d}", "."),
    ("queue up {d}", "."),
    ("throw on {d}", "."),
    ("find me {d}", "."),
    ("could I get {d}", "?"),
    ("can I get {d}", "?"),
    ("we need {d}", "."),
    ("cue up {d}", "."),
    ("bring on {d}", "."),
    ("what I want is {d}", "."),
    ("{d}, please", "."),
    ("{d}", "."),
    ("{d}", "?"),
    ("just {d}", "."),
    ("requesting {d}", "."),
    ("I'm after {d}", "."),
    ("I could go for {d}", "."),
    ("is there {d}", "?"),
    ("play {d} if you've got it", "."),
    ("surprise me with {d}", "."),
    ("switch to {d}", "."),
    ("change it to {d}", "."),
    ("can we get {d}", "?"),
    ("let's go with {d}", "."),
    ("I'm craving {d}", "."),
    ("time for {d}", "."),
    ("we could use {d}", "."),
    ("I'd really appreciate {d}", "."),
    ("could we switch to {d}", "?"),
    ("what about {d}", "?"),
)
_EN_OPENERS = (
    "hey, ",
    "hi, ",
    "okay, ",
    "ok so ",
    "um, ",
    "hmm, ",
    "yo, ",
    "so, ",
    "alright, ",
    "hey there, ",
    "right, ",
    "quick request, ",
    "honestly, ",
    "sorry, ",
    "uh, ",
    "okay so, ",
    "listen, ",
    "hey DJ, ",
    "oh, ",
    "well, ",
)
_EN_HEDGES = (
    ", I guess",
    ", I think",
    ", ideally",
    ", if that makes sense",
    ", maybe",
    ", if possible",
    ", if you can",
    ", please",
    " please",
)
_EN_ADJ_FOLLOWUPS = (
    ("make it {x}", "."),
    ("keep it {x}", "."),
    ("it should be {x}", "."),
    ("it should feel {x}", "."),
    ("ideally {x}", "."),
    ("preferably {x}", "."),
    ("oh, and {x} too", "."),
    ("and {x}, please", "."),
    ("also {x}, if you can", "."),
    ("{x} would be nice", "."),
    ("{x} is a must", "."),
    ("bonus points if it's {x}", "."),
    ("I'd like it {x}", "."),
    ("but {x}, please", "."),
    ("needs to be {x}", "."),
    ("the vibe should be {x}", "!"),
)
_EN_POST_FOLLOWUPS = (
    ("ideally something {x}", "."),
    ("maybe something {x}", "?"),
    ("something {x}, if possible", "."),
    ("think something {x}", "."),
    ("bonus points for something {x}", "."),
    ("like, something {x}", "."),
    ("preferably something {x}", "."),
)
_EN_SCENE_POSTS = ("for {s}", "to go with {s}", "that would fit {s}", "to play in {s}")
_EN_SCENE_SENTENCES = (
    "it's for {s}.",
    "this is for {s}.",
    "the scene is {s}.",
    "I need it for {s}.",
    "it'll play in {s}.",
    "think {s}.",
    "picture {s}.",
    "imagine {s}.",
    "we're scoring {s}.",
)
_EN_SCENE_PREFIXES = ("for {s}, ", "it's for {s}, so ", "setting the mood for {s}, so ")
_EN_THANKS = ("thanks!", "thank you!", "thanks in advance.", "cheers!", "much appreciated.", "ty!")
_EN_HINTS = {
    "energy": (
        "medium tempo is fine.",
        "not too fast, not too slow.",
        "a moderate pace works.",
        "mid-tempo would be good.",
    ),
    "warmth": (
        "neither icy nor cozy, somewhere in between.",
        "it doesn't have to feel super cozy.",
        "emotionally, somewhere in the middle.",
    ),
    "brightness": (
        "not too dark, not too sunny.",
        "somewhere between bright and gloomy.",
        "mood-wise, nothing too extreme.",
    ),
    "acousticness": (
        "a mix of synths and real instruments is fine.",
        "some acoustic, some electronic.",
        "a blend of live and electronic sounds works.",
    ),
    "complexity": (
        "not too busy, not too bare.",
        "a moderate amount going on is fine.",
        "nothing too fancy, nothing too plain.",
    ),
    "nostalgia": (
        "doesn't matter if it sounds old or new.",
        "a blend of retro and modern.",
        "not super retro, not super futuristic.",
    ),
}
_EN_LEANING_HINTS = (
    "keep it moderately {w}.",
    "not too {o}, though.",
    "nothing too {o}.",
    "moderately {w} is fine.",
    "a little {w} maybe, nothing extreme.",
)


def _en_article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _en_realise(constraint: dict[str, str], value: int, rng: random.Random) -> tuple[str, str]:
    """(kind, phrase): kind "adj" goes before a noun, "post" after it."""
    axis, direction = constraint["axis"], constraint["direction"]
    level = _level(value, direction)
    negation_level = 3 if level == 3 else 1 if level == 1 and direction == "low" else 0
    if negation_level and axis in _NEGATABLE_AXES and rng.random() < _NEGATION_RATE:
        opposite = [e.text for e in _EN_BANKS[(axis, _opposite(direction))] if e.cls == "g"]
        return "post", rng.choice(_EN_NEGATIONS[negation_level]).format(w=rng.choice(opposite))
    entry = rng.choice(_usable(_EN_BANKS[(axis, direction)], level))
    if entry.cls == "t":
        return "post", entry.text
    if entry.cls == "a":
        return "adj", entry.text
    if entry.cls == "g" and level == 3 and rng.random() < 0.1:
        return "post", rng.choice(("as {w} as it gets", "as {w} as possible")).format(w=entry.text)
    adverb = rng.choice(_EN_ADVERBS[entry.cls][level])
    return "adj", f"{adverb} {entry.text}".strip()


def _en_join(parts: list[str], rng: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return rng.choice(("{} and {}", "{} and {}", "{}, {}", "{} but {}", "{} yet {}", "{} and also {}")).format(
            *parts
        )
    head = ", ".join(parts[:-1])
    return head + rng.choice((" and ", ", and ", ", ", " and ")) + parts[-1]


def _en_tail(posts: list[str], rng: random.Random) -> str:
    tail = posts[0]
    for post in posts[1:]:
        tail += rng.choice((" and ", ", ", ", and "))
        tail += post
    return tail


def _en_description(adjs: list[str], posts: list[str], rng: random.Random) -> str:
    if adjs:
        adj = _en_join(adjs, rng)
        noun, mass = rng.choice(_EN_NOUNS), rng.choice(_EN_MASS_NOUNS)
        shapes = [
            f"something {adj}",
            f"something {adj}",
            f"{_en_article(noun)} {noun} that's {adj}",
            f"music that's {adj}",
        ]
        # "a bit calm" cannot follow an article or precede a plural.
        if not adj.startswith("a "):
            shapes += [
                f"{_en_article(adj)} {adj} {noun}",
                f"{_en_article(adj)} {adj} {noun}",
                f"some {adj} {mass}",
                f"{adj} {mass}",
            ]
        head = rng.choice(shapes)
    else:
        noun = rng.choice(_EN_NOUNS)
        head = rng.choice(
            ("something", "something", f"{_en_article(noun)} {noun}", f"some {rng.choice(_EN_MASS_NOUNS)}", "music")
        )
    if not posts:
        return head
    return head + rng.choice((" ", " ", ", " if adjs else " ")) + _en_tail(posts, rng)


def _en_followups(items: list[tuple[str, str]], rng: random.Random) -> list[str]:
    sentences = []
    adjs = [phrase for kind, phrase in items if kind == "adj"]
    posts = [phrase for kind, phrase in items if kind == "post"]
    groups = [adjs] if adjs and rng.random() < 0.5 else [[adj] for adj in adjs]
    for group in groups:
        frame, end = rng.choice(_EN_ADJ_FOLLOWUPS)
        sentences.append(frame.format(x=_en_join(group, rng)) + end)
    for post in posts:
        frame, end = rng.choice(_EN_POST_FOLLOWUPS)
        sentences.append(frame.format(x=post) + end)
    return sentences


def _en_hint(axis: str, value: int, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(_EN_HINTS[axis])
    lean = "high" if value >= 50 else "low"
    same = [e.text for e in _EN_BANKS[(axis, lean)] if e.cls == "g"]
    other = [e.text for e in _EN_BANKS[(axis, _opposite(lean))] if e.cls == "g"]
    return rng.choice(_EN_LEANING_HINTS).format(w=rng.choice(same), o=rng.choice(other))


def _write_en(
    values: Mapping[str, int], constraints: list[dict[str, str]], rng: random.Random, compact: bool, pad: bool
) -> tuple[str, list[str]]:
    """(text, phrase per constraint). `compact` and `pad` are the retries after a too long or too short text."""
    realised = []
    for constraint in constraints:
        tries = 3 if compact else 1
        options = [_en_realise(constraint, values[constraint["axis"]], rng) for _ in range(tries)]
        realised.append(min(options, key=lambda option: len(option[1])))
    order = list(range(len(constraints)))
    rng.shuffle(order)
    in_description = len(order) if compact or rng.random() < 0.5 else rng.randint(1, max(1, len(order)))
    described = [realised[i] for i in order[:in_description]]
    adjs = [phrase for kind, phrase in described if kind == "adj"]
    posts = [phrase for kind, phrase in described if kind == "post"]
    if not constraints and rng.random() < 0.5:
        adjs = [rng.choice(_EN_NEUTRAL_ADJECTIVES)]

    scene_at = None
    if pad or (not compact and rng.random() < (0.9 if not constraints else 0.55)):
        scene = _pick_scene(_EN_SCENES, constraints, rng)
        scene_at = rng.choice(("post", "post", "before", "after", "prefix"))
        if scene_at == "post":
            posts.append(rng.choice(_EN_SCENE_POSTS).format(s=scene))

    frame, end = rng.choice(_EN_MAIN_FRAMES)
    main = frame.format(d=_en_description(adjs, posts, rng))
    if not compact and rng.random() < 0.2:
        main += rng.choice(_EN_HEDGES)
    if scene_at == "prefix":
        main = rng.choice(_EN_SCENE_PREFIXES).format(s=scene) + main
    elif not compact and rng.random() < 0.25:
        main = rng.choice(_EN_OPENERS) + main
    closing = rng.choice((end, end, end, "!" if end == "." else end, ""))

    after = _en_followups([realised[i] for i in order[in_description:]], rng)
    if not compact:
        after += [
            _en_hint(axis, values[axis], rng)
            for axis in _neutral_axes(values, constraints)
            if pad or rng.random() < _hint_rate(constraints)
        ][:2]
    rng.shuffle(after)
    before = []
    if scene_at in ("before", "after"):
        (before if scene_at == "before" else after).append(rng.choice(_EN_SCENE_SENTENCES).format(s=scene))
    if not compact and rng.random() < 0.12:
        after.append(rng.choice(_EN_THANKS))
    # An unpunctuated request only reads naturally as the last sentence.
    main += closing if closing or not after else end
    text = " ".join(_cap(sentence) for sentence in [*before, main, *after])
    if rng.random() < 0.08:
        text = text.lower()
    return text, [phrase for _, phrase in realised]


# ---------------------------------------------------------------------------
# Japanese
# ---------------------------------------------------------------------------


class _JaForms(NamedTuple):
    attr: str  # before a noun: 明るい曲
    te: str  # joining to the next modifier: 明るくて、
    kedo: str  # contrasting with the next: 明るいけど、
    kanji: str  # before 感じ / 雰囲気: 明るい感じ
    stem: str | None  # in a ・ list or before 系 (明るい・レトロ系); None where that reads badly
    sugi: str | None  # before すぎない, where it inflects cleanly


def _ja_forms(word: str) -> _JaForms:
    """Inflect a modifier from its ending; the bank marks the irregular ones."""
    attr, _, te = word.partition("/")
    if te:
        return _JaForms(attr, te, attr + "けど", attr, attr, None)
    if attr.endswith("な"):
        stem = attr[:-1]
        simile = stem.endswith(("よう", "みたい"))
        return _JaForms(attr, stem + "で", stem + "だけど", attr, None if simile else stem, None if simile else stem)
    if attr.endswith("の"):
        stem = attr[:-1]
        return _JaForms(attr, stem + "で", stem + "だけど", stem + "な", stem, None)
    if attr.endswith("いい"):
        return _JaForms(attr, attr[:-2] + "よくて", attr + "けど", attr, attr, None)
    if attr.endswith("い"):
        sugi = None if attr.endswith("ない") else attr[:-1]
        return _JaForms(attr, attr[:-1] + "くて", attr + "けど", attr, attr, sugi)
    if attr.endswith(("た", "だ")):
        voiced = attr.endswith("だ")
        return _JaForms(
            attr,
            attr[:-1] + ("でいて" if voiced else "ていて"),
            attr[:-1] + ("でるけど" if voiced else "てるけど"),
            attr,
            attr,
            None,
        )
    raise ValueError(f"cannot inflect {word!r}")


def _ja_negative(word: str) -> str | None:
    """Plain negative of a modifier (激しい -> 激しくない), None where it would read badly."""
    attr, _, te = word.partition("/")
    if te or attr.endswith(("ない", "ような", "みたいな")):
        return None
    if attr.endswith("いい"):
        return attr[:-2] + "よくない"
    if attr.endswith("い"):
        return attr[:-1] + "くない"
    if attr.endswith(("な", "の")):
        return attr[:-1] + "じゃない"
    if attr.endswith("た"):
        return attr[:-1] + "てない"
    return attr[:-1] + "でない"


def _ja_prefixed(forms: _JaForms, adverb: str) -> _JaForms:
    stem = None if forms.stem is None else adverb + forms.stem
    sugi = None if forms.sugi is None else adverb + forms.sugi
    return _JaForms(adverb + forms.attr, adverb + forms.te, adverb + forms.kedo, adverb + forms.kanji, stem, sugi)


def _ja_realise(constraint: dict[str, str], value: int, rng: random.Random) -> _JaForms:
    axis, direction = constraint["axis"], constraint["direction"]
    level = _level(value, direction)
    negation_level = 3 if level == 3 else 1 if level == 1 and direction == "low" else 0
    if negation_level and axis in _NEGATABLE_AXES and rng.random() < _NEGATION_RATE:
        opposite = [e.text for e in _JA_BANKS[(axis, _opposite(direction))] if e.cls == "g"]
        negatives = [neg for neg in map(_ja_negative, opposite) if neg]
        return _ja_forms(rng.choice(_JA_NEGATIONS[negation_level]) + rng.choice(negatives))
    entry = rng.choice(_usable(_JA_BANKS[(axis, direction)], level))
    forms = _ja_forms(entry.text)
    if entry.cls == "a":
        return forms
    return _ja_prefixed(forms, rng.choice(_JA_ADVERBS[entry.cls][level]))


_JA_NOUNS = ("曲", "曲", "曲", "音楽", "サウンド", "トラック", "やつ", "ナンバー", "メロディー", "BGM")
_JA_FEEL_NOUNS = ("感じの曲", "雰囲気の曲", "感じのやつ", "感じの音楽", "ムードの曲")
_JA_NEUTRAL_MODIFIERS = (
    "いい感じの",
    "ほどよい感じの",
    "クセのない",
    "バランスのいい",
    "無難な",
    "普通っぽい",
    "ちょうどいい感じの",
)
_JA_REGISTERS = ("polite", "casual", "plain")
_JA_MAIN_FRAMES = {
    "polite": (
        ("{np}をお願いします", "。"),
        ("{np}をかけてください", "。"),
        ("{np}を流してもらえますか", "？"),
        ("{np}が聴きたいです", "。"),
        ("{np}はありますか", "？"),
        ("{np}を探しています", "。"),
        ("{np}がいいです", "。"),
        ("{np}でお願いします", "。"),
        ("{np}をリクエストします", "。"),
        ("{np}を流していただけますか", "？"),
        ("{np}にしてもらえますか", "？"),
        ("{np}をかけてもらえると嬉しいです", "。"),
        ("{np}が欲しいです", "。"),
        ("{np}ってありますか", "？"),
        ("{np}をお願いできますか", "？"),
    ),
    "casual": (
        ("{np}かけて", "！"),
        ("{np}流して", "。"),
        ("{np}ちょうだい", "！"),
        ("{np}がいいな", "。"),
        ("{np}聴きたい", "！"),
        ("{np}ない", "？"),
        ("{np}ある", "？"),
        ("{np}でよろしく", "！"),
        ("{np}頼む", "！"),
        ("{np}がほしいな", "。"),
        ("{np}探してる", "。"),
        ("{np}にして", "。"),
        ("{np}でいこう", "！"),
        ("{np}流してほしいな", "。"),
        ("{np}がいいかな", "。"),
        ("{np}とかないかな", "？"),
        ("{np}が聴きたい気分", "。"),
        ("{np}の気分", "。"),
        ("{np}ってある", "？"),
        ("{np}がいいかも", "。"),
    ),
    "plain": (
        ("{np}", "。"),
        ("{np}希望", "。"),
        ("{np}で", "。"),
        ("{np}を頼む", "。"),
        ("{np}求む", "。"),
        ("{np}が欲しい", "。"),
        ("{np}をかけてほしい", "。"),
        ("{np}がいい", "。"),
    ),
}
_JA_FOLLOWUPS = {
    "polite": (
        ("あと、{x}感じだと嬉しいです", "。"),
        ("できれば{x}感じでお願いします", "。"),
        ("{x}感じにしてください", "。"),
        ("それと、{x}雰囲気がいいです", "。"),
        ("{x}感じだと助かります", "。"),
        ("ただ、{x}感じでお願いします", "。"),
    ),
    "casual": (
        ("あと{x}感じで", "！"),
        ("{x}感じがいいな", "。"),
        ("できれば{x}感じで", "。"),
        ("{x}感じにして", "。"),
        ("あ、{x}感じでね", "。"),
        ("{x}雰囲気だと最高", "！"),
        ("でも{x}感じで", "。"),
        ("{x}感じだとうれしい", "！"),
    ),
    "plain": (
        ("{x}感じで", "。"),
        ("{x}雰囲気希望", "。"),
        ("{x}感じ", "。"),
        ("できれば{x}感じ", "。"),
        ("{x}感じがいい", "。"),
    ),
}
_JA_SCENE_MODIFIERS = (
    "{s}で流す",
    "{s}に合う",
    "{s}用の",
    "{s}向けの",
    "{s}にぴったりな",
    "{s}っぽい",
    "{s}で使える",
    "{s}の場面に合う",
)
_JA_SCENE_SENTENCES = {
    "polite": (
        ("{s}で使いたいです", "。"),
        ("{s}用です", "。"),
        ("{s}で流したいんです", "。"),
        ("{s}の場面で使います", "。"),
    ),
    "casual": (("{s}で使うやつ", "。"), ("{s}用ね", "。"), ("{s}で流したい", "！"), ("{s}のときに流したい", "。")),
    "plain": (("{s}用", "。"), ("場面は{s}", "。"), ("{s}で使用", "。")),
}
_JA_SCENE_PREFIXES = {
    "polite": ("{s}で使いたいので、", "{s}用に、", "{s}なので、"),
    "casual": ("{s}で流すから、", "{s}用に、", "{s}だから、"),
    "plain": ("{s}用、", "{s}向け、", "{s}にて、"),
}
_JA_OPENERS = {
    "polite": (
        "すみません、",
        "あの、",
        "えっと、",
        "お願いなんですが、",
        "よかったら",
        "もしよければ",
        "恐れ入りますが、",
    ),
    "casual": (
        "ねえ、",
        "えっと、",
        "なんか",
        "うーん、",
        "じゃあ",
        "そうだなあ、",
        "ねえねえ、",
        "よし、",
        "とりあえず",
    ),
    "plain": ("えー、", "では、", "さて、"),
}
_JA_THANKS = {
    "polite": ("よろしくお願いします。", "ありがとうございます。", "お願いします！"),
    "casual": ("よろしく！", "ありがと！", "頼んだ！"),
    "plain": ("よろしく。", "以上。"),
}
_JA_HINTS = {
    "energy": ("テンポは普通くらいで。", "激しすぎず静かすぎずで。", "テンポはほどほどに。"),
    "warmth": ("温度感はほどほどで。", "冷たすぎず甘すぎず。", "優しさはそこそこでいいです。"),
    "brightness": ("明るすぎず暗すぎずで。", "明るくも暗くもない感じで。"),
    "acousticness": (
        "生楽器と電子音のミックスで。",
        "生音とシンセが混ざった感じで。",
        "アコギとシンセ、どっちもありで。",
    ),
    "complexity": ("凝りすぎない程度で。", "シンプルすぎず凝りすぎず。", "展開はほどほどで。"),
    "nostalgia": ("古すぎず新しすぎず。", "レトロと今っぽさの間くらいで。", "新旧どっちつかずな感じで。"),
}
_JA_LEANING_HINTS = ("ほどほどに{w}感じで。", "そこそこ{w}感じで。", "{o}すぎない感じで。", "{o}すぎないくらいで。")


def _ja_chain(items: list[_JaForms], rng: random.Random, last: str) -> tuple[str, list[str]]:
    """Modifiers joined in te-form (or one けど), the last one in the `last` form."""
    contrast_at = rng.randrange(len(items) - 1) if len(items) > 1 and rng.random() < 0.2 else -1
    text, used = "", []
    for index, forms in enumerate(items):
        if index == len(items) - 1:
            piece = getattr(forms, last)
        elif index == contrast_at:
            piece = forms.kedo + "、"
        else:
            piece = forms.te + rng.choice(("", "、"))
        text += piece
        used.append(piece.rstrip("、"))
    return text, used


def _ja_noun_phrase(items: list[_JaForms], scene_modifier: str | None, rng: random.Random) -> tuple[str, list[str]]:
    if not items:
        modifier, used = rng.choice(_JA_NEUTRAL_MODIFIERS), []
        noun = rng.choice(_JA_NOUNS)
    elif len(items) > 1 and all(forms.stem for forms in items) and rng.random() < 0.2:
        used = [forms.stem for forms in items]
        modifier = "・".join(used) + rng.choice(("系の", "って感じの"))
        noun = rng.choice(_JA_NOUNS)
    elif rng.random() < 0.3:
        modifier, used = _ja_chain(items, rng, "kanji")
        noun = rng.choice(_JA_FEEL_NOUNS)
    else:
        modifier, used = _ja_chain(items, rng, "attr")
        noun = rng.choice(_JA_NOUNS)
    if scene_modifier is None:
        return modifier + noun, used
    if rng.random() < 0.5:
        return scene_modifier + rng.choice(("、", "")) + modifier + noun, used
    return modifier + "、" + scene_modifier + noun, used


def _ja_hint(axis: str, value: int, rng: random.Random) -> str:
    lean = "high" if value >= 50 else "low"
    same = [_ja_forms(e.text) for e in _JA_BANKS[(axis, lean)] if e.cls == "g"]
    other = [
        forms.sugi
        for forms in (_ja_forms(e.text) for e in _JA_BANKS[(axis, _opposite(lean))] if e.cls == "g")
        if forms.sugi
    ]
    if rng.random() < 0.5:
        return rng.choice(_JA_HINTS[axis])
    return rng.choice(_JA_LEANING_HINTS).format(w=rng.choice(same).kanji, o=rng.choice(other))


def _write_ja(
    values: Mapping[str, int], constraints: list[dict[str, str]], rng: random.Random, compact: bool, pad: bool
) -> tuple[str, list[str]]:
    """(text, phrase per constraint). `compact` and `pad` are the retries after a too long or too short text."""
    realised = []
    for constraint in constraints:
        tries = 3 if compact else 1
        options = [_ja_realise(constraint, values[constraint["axis"]], rng) for _ in range(tries)]
        realised.append(min(options, key=lambda forms: len(forms.attr)))
    order = list(range(len(constraints)))
    rng.shuffle(order)
    in_description = len(order) if compact or rng.random() < 0.55 else rng.randint(1, max(1, len(order)))
    register = rng.choice(_JA_REGISTERS)
    phrases = [""] * len(constraints)

    scene_at = None
    if pad or (not compact and rng.random() < (0.9 if not constraints else 0.5)):
        scene = _pick_scene(_JA_SCENES, constraints, rng)
        scene_at = rng.choice(("modifier", "modifier", "sentence", "prefix"))
    scene_modifier = rng.choice(_JA_SCENE_MODIFIERS).format(s=scene) if scene_at == "modifier" else None

    described = order[:in_description]
    noun_phrase, used = _ja_noun_phrase([realised[i] for i in described], scene_modifier, rng)
    for index, phrase in zip(described, used):
        phrases[index] = phrase
    frame, end = rng.choice(_JA_MAIN_FRAMES[register])
    main = frame.format(np=noun_phrase)
    if scene_at == "prefix":
        main = rng.choice(_JA_SCENE_PREFIXES[register]).format(s=scene) + main
    elif not compact and rng.random() < 0.25:
        main = rng.choice(_JA_OPENERS[register]) + main
    closing = rng.choice((end, end, end, "" if end == "。" else end, "！" if end == "。" else "?"))

    after = []
    rest = order[in_description:]
    groups = [rest] if rest and rng.random() < 0.5 else [[index] for index in rest]
    for group in groups:
        chain, used = _ja_chain([realised[i] for i in group], rng, "kanji")
        for index, phrase in zip(group, used):
            phrases[index] = phrase
        followup, followup_end = rng.choice(_JA_FOLLOWUPS[register])
        after.append(followup.format(x=chain) + followup_end)
    if not compact:
        after += [
            _ja_hint(axis, values[axis], rng)
            for axis in _neutral_axes(values, constraints)
            if pad or rng.random() < _hint_rate(constraints)
        ][:2]
    rng.shuffle(after)
    before = []
    if scene_at == "sentence":
        scene_frame, scene_end = rng.choice(_JA_SCENE_SENTENCES[register])
        rng.choice((before, after)).append(scene_frame.format(s=scene) + scene_end)
    if not compact and rng.random() < 0.12:
        after.append(rng.choice(_JA_THANKS[register]))
    main += closing if closing or not after else end
    return "".join([*before, main, *after]), phrases


# ---------------------------------------------------------------------------
# Teachers
# ---------------------------------------------------------------------------

_WRITERS = {"en": _write_en, "ja": _write_ja}


class TemplateTeacher:
    """Offline teacher: composes requests from phrase banks, no network, no cost."""

    name = "template"

    def write(self, target: dict[str, int], language: str, rng: random.Random) -> TeacherOutput:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; choose from: {', '.join(LANGUAGES)}")
        values = target_dict(target)
        constraints = constraints_for(values)
        low, high = _LENGTH_BOUNDS[language]
        compact = pad = False
        for _ in range(_ATTEMPTS):
            text, phrases = _WRITERS[language](values, constraints, rng, compact, pad)
            if low <= len(text) <= high:
                expressed = [
                    {**constraint, "phrase": _locate(text, phrase)} for constraint, phrase in zip(constraints, phrases)
                ]
                return TeacherOutput(text=text, expressed=expressed, usage={})
            # Too long: drop the optional parts; too short: add a scene and hints.
            compact, pad = len(text) > high, len(text) < low
        raise RuntimeError(f"could not write a {language} request within {low}-{high} characters for {values}")


def _mistral_teacher() -> Teacher:
    # Imported on use: the offline default needs neither the SDK nor an API key.
    from pipeline.data.mistral_teacher import MistralTeacher

    return MistralTeacher.from_env()


_TEACHERS: dict[str, Callable[[], Teacher]] = {"template": TemplateTeacher, "mistral": _mistral_teacher}


def get_teacher(name: str) -> Teacher:
    """The teacher registered under `name`; runs and CLIs name teachers as strings.

    "mistral" is configured from the environment (see MistralTeacher.from_env)
    and raises ValueError naming MISTRAL_API_KEY when it is unset.
    """
    try:
        build = _TEACHERS[name]
    except KeyError:
        raise ValueError(f"unknown teacher {name!r}; choose from: {', '.join(_TEACHERS)}") from None
    return build()


def teacher_names() -> list[str]:
    """Registered teacher names, for forms and CLIs."""
    return list(_TEACHERS)
