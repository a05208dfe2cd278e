"""rule_baseline: a hand-written music lexicon, the floor every learned model must clear.

It reads a request the way a game designer briefs a composer: tempo words,
genres, instruments, moods, eras, production terms and game scenes, in English
and Japanese. Each term nudges some axes away from 50 (a genre usually moves
several: "lo-fi" is slow, warm, a little electronic, simple and nostalgic),
degree words scale the nudge, negation flips it ("not too fast", "without
synths", "激しくない", "シンセなし"), and the sum per axis is squashed back
into 0-100. Deterministic, no model, microseconds per request.

The vocabulary is written here from a designer's point of view on purpose and
is not the template teacher's phrase banks: a baseline that shares the
teacher's word lists would measure the teacher, not the task.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

from pipeline.tasks.predictors import RulePredictor
from pipeline.tasks.hidden_params import AXES, format_target

_AXIS_CODES = {
    "E": "energy",
    "W": "warmth",
    "B": "brightness",
    "A": "acousticness",
    "C": "complexity",
    "N": "nostalgia",
}

# ---------------------------------------------------------------------------
# Lexicon. One line per idea: "term | term | ...: E+25 W-10", where the codes
# are E(nergy) W(armth) B(rightness) A(cousticness) C(omplexity) N(ostalgia)
# and the numbers are points away from neutral for one plain mention. "0"
# marks words that only contain a term ("グループ" is not a loop): matching
# them first keeps the term from firing.
# English terms match as words, hyphen or space alike ("lo-fi" = "lo fi"),
# and also in the plural (+s / +es).
# ---------------------------------------------------------------------------

_EN_LEXICON = """
# tempo and drive
fast | uptempo | up-tempo | high tempo | speedy | rapid | brisk | double-time | breakneck | frantic: E+28
driving | propulsive | pounding | thumping | stomping | pumping | punchy | hard-hitting | banger | relentless: E+25
energetic | high energy | intense | aggressive | fierce | wild | explosive | adrenaline: E+25
hype | hyped | amped | pumped | rousing | thrilling | exciting | heart-racing | non-stop: E+25
loud | blaring | booming: E+18
heavy: E+15 B-5
bouncy | groovy | danceable | dance | dancefloor | upbeat | lively | peppy | perky | spirited | toe-tapping: E+18 B+8
epic | heroic | triumphant | anthem | anthemic | powerful | bombastic | grand | climactic: E+22 C+10 B+5
slow | downtempo | slow-paced | sluggish | crawling: E-28
calm | calming | chill | chilled | chillout | chill-out | relaxing | relaxed | laid-back | laidback | mellow: E-25
easygoing | easy-going | unhurried | leisurely | lazy | sleepy | drowsy | bedtime: E-25
quiet | soft | hushed | whispery | delicate | gentle: E-18 W+5
peaceful | tranquil | serene | soothing | meditative | meditation | zen | contemplative | restful: E-25 W+5
lullaby | cradle song: E-30 W+15 A+10 C-15
dreamy | floaty | hazy: E-15 W+8 A-5
unwind | wind down | studying | study session | reading: E-15 C-8

# warmth
warm | warmth | cozy | cosy | snug | comforting | comfy | homely | homey | welcoming | inviting | wholesome: W+25
tender | tenderness | loving | affectionate | heartfelt | sincere: W+25 E-5
soulful | romantic | intimate | sweet | caring | hug: W+25 E-5
friendly | kind-hearted | good-natured: W+18 B+5
fireplace | hearth | cabin | hot cocoa | blanket | quilt: W+22 E-8
grandma | grandpa | grandmother | grandfather | family | home: W+20 N+12
lush | velvety | velvet | silky | rich: W+15 C+5
cold | chilly | icy | frozen | frosty | freezing | wintry: W-25
sterile | clinical | mechanical | inhuman | soulless | emotionless | unfeeling | detached | aloof | impersonal: W-25
distant | faraway: W-15
lonely | isolated | desolate | empty | hollow | barren | alienated | alienating: W-20 B-12
harsh | abrasive | grating | jagged | metallic | brutal | menacing | hostile | threatening | cruel: W-20 E+10
stark | austere | spartan: W-18 C-10
cool: W-8

# brightness
bright | brilliant | sunny | sunshine | sunlit | radiant | luminous | glowing | sparkly | sparkling | sparkle: B+25
shimmering | shimmery | glittery | twinkling | crystalline | crisp | airy: B+20
happy | cheerful | joyful | joyous | jolly | merry | gleeful | optimistic | hopeful | uplifting | feel-good: B+25 E+5
carefree | playful | whimsical | silly | goofy | cute | adorable | bubbly | fun | festive | celebratory: B+22 E+8
major key: B+20
summer | summery | spring | springtime | morning | daytime | beach | tropical | sunrise | daybreak | blue sky: B+18
victory | fanfare | celebration | festival | carnival | parade: B+20 E+15
dark | gloomy | grim | bleak | murky | shadowy | dim | moody | brooding | somber | sombre: B-25
sad | sorrowful | melancholy | melancholic | mournful: B-25 E-10
tragic | heartbroken | heartbreaking | tearful | grief: B-25 E-10
lament | elegy | requiem | funeral | dirge: B-25 E-15 A+10
bittersweet | wistful | longing: B-10 N+15 W+8
minor key: B-20
haunted house | haunted mansion | ominous | eerie | creepy | spooky: B-28 W-12
sinister | unsettling | uneasy | foreboding | dread | haunting | haunted: B-28 W-12
ghostly | horror | scary | terrifying | nightmare | nightmarish: B-28 W-12
tense | tension | suspense | suspenseful | stealth | stealthy | sneaky | mysterious | mystery | enigmatic: B-15 C+10
night | nighttime | midnight | nocturnal | dusk | twilight | moonlit | overcast | grey | gray: B-12 E-5
rain | rainy | fog | foggy: B-12 E-8 W+5
storm | stormy | thunder: B-15 E+12
dungeon | cave | catacomb | crypt | graveyard | cemetery | abyss | underworld | swamp | sewer: B-15 W-8
apocalyptic | dystopian | post-apocalyptic | doom | doomy: B-22 W-10 E+5

# acoustic instruments and acoustic genres
acoustic | unplugged | live band | live instruments | real instruments | played live | organic | natural | earthy: A+28
wooden | handmade | hand-played | unprocessed | raw: A+18
acoustic guitar | nylon-string | classical guitar | fingerpicked | fingerpicking | strummed | strumming: A+30 W+10
guitar: A+12
piano | grand piano | upright piano: A+22
solo piano | just piano | piano only | only piano: A+28 C-20
strings | string section | string quartet | violin | fiddle: A+25 W+5
viola | cello | double bass | upright bass | harp: A+25 W+5
harpsichord: A+25 N+15 C+10
flute | recorder | piccolo | clarinet | oboe | bassoon | woodwind | pan flute | panpipes | ocarina | tin whistle: A+25
brass | trumpet | trombone | french horn | horn | tuba | saxophone | sax: A+22 E+8
accordion | banjo | mandolin | ukulele | harmonica | bagpipe | dulcimer | lute | sitar | koto | shamisen: A+30 N+15
shakuhachi | taiko: A+30 N+15
marimba | xylophone | vibraphone | glockenspiel | celesta | kalimba | bell | chime: A+18 B+15
music box: A+18 B+10 N+20 E-15
hand drums | conga | bongo | djembe | tambourine | shaker | cajon | percussion: A+20 E+5
choir | choral | a cappella | acapella | chant | chanting | vocal harmonies: A+25 C+10
orchestra | orchestral | symphonic | symphony | philharmonic | film score | chamber music: A+28 C+25 E+5
cinematic | cutscene: C+20 A+10 E+10
folk | folksy | folky: A+30 W+15 N+15 C-5
bluegrass | country | americana | singer-songwriter | sea shanty | shanty: A+30 W+15 N+15 C-5
celtic | irish | medieval | bard | bardic | tavern | renaissance: A+30 W+12 N+28
jazz | jazzy | bebop | swing | big band | smooth jazz | bossa nova | bossa | ragtime | dixieland: A+25 C+22 W+15 N+20
blues | bluesy | soul | motown | gospel: A+15 W+25 N+20
classical | baroque | opera | operatic | waltz | minuet | fugue | sonata | concerto | nocturne: A+30 C+25 N+25
rock | rock band | indie rock | garage rock | power chords: E+22 A+10
classic rock: E+20 A+10 N+25
punk | punk rock | pop punk | hardcore: E+32 C-15 W-5
metal | heavy metal | thrash | death metal | black metal | metalcore | nu metal | headbanging: E+35 B-15 W-15 A-5
djent | shred guitar | shredding: E+30 C+25 A-5
grunge: E+15 B-12 A-5 N+20
distorted | distortion | fuzz | fuzzy: E+15 B-10 A-10
math rock | prog | prog rock | progressive | progressive rock | fusion | jazz fusion: C+32
post-rock | shoegaze | dream pop: C+10 E-5 W+5 A-5
reggae | ska: E+10 W+15
funk | funky | disco | boogie: E+22 N+25 W+10
doo-wop | rockabilly | surf rock | oldies | crooner | lounge | exotica: N+32 A+15 W+10
hip hop | rap: A-15 E+12
boom bap: A-15 E+10 N+20
city pop: N+32 W+10 B+12 A-5
pop | j-pop | k-pop | idol: B+15 E+12 C-10 A-10

# electronic
electronic | electronica | electro | digital | programmed | sequenced | computer | computerized | laptop: A-30
synth | synthesizer | synthesiser | synthy | synth-heavy | synth pad | pad | arpeggiator | arpeggio: A-30
arpeggiated | modular | sawtooth | square wave | oscillator | bleep | beep: A-30
drum machine | 808 | sampler | vocoder | auto-tune | autotune | sidechain | sidechained | wobble | bass drop: A-25 E+10
edm | big room | dance music | club | club track | rave: A-32 E+30
techno | house music | deep house | tech house | trance: A-32 E+25
hardstyle | drum and bass | drum & bass | dnb | breakbeat: A-32 E+25
dubstep | brostep: A-32 E+28 W-10
chiptune | chip music | 8-bit | 16-bit | bitpop | game boy | nes | snes | famicom: A-30 N+35 B+10 C-8
arcade | retro game | retro gaming | pixel | pixel art | pixelated: A-25 N+30 B+8
synthwave | retrowave | outrun: A-32 N+30 E+8
vaporwave: A-30 N+28 E-15
darksynth: A-32 N+20 B-20 E+15
lo-fi | lofi | chillhop | bedroom pop: A-10 E-20 W+18 N+18 C-12
glitch | glitchy | idm | breakcore | noise | noisy: A-30 W-18 C+15
industrial: A-30 W-22 E+15 B-15
cyberpunk | cyber | sci-fi | science fiction | spaceship: A-25 N-25 W-10
space station | android | hologram | hi-tech | high-tech: A-25 N-25 W-10
neon: A-15 N-10 B+10
robot | robotic: A-25 W-20 N-10
hyperpop: A-30 N-30 E+30 B+15 C+15
future bass | future funk: A-30 N-20 E+15 B+10
ambient | soundscape | drone: E-25 A-15 C-15
trip-hop: E-20 A-15 B-10

# complexity
complex | complicated | intricate | elaborate | ornate | sophisticated | layered | multi-layered | dense | busy: C+28
detailed | rich arrangement | lush arrangement | many layers | lots of layers | fancy | flashy | showy: C+25
polyrhythm | polyrhythmic | odd time | odd meter | odd time signature | time signature change | tempo change: C+30
key change | modulation | syncopated | syncopation: C+30
counterpoint | contrapuntal | virtuoso | virtuosic | technical: C+30
experimental | avant-garde | unconventional | unpredictable | evolving | ever-changing | twist: C+20
build-up | buildup | crescendo | dynamic: C+15 E+8
simple | simplistic | basic | plain: C-28
minimal | minimalist | minimalistic | sparse | bare | bare-bones: C-28
stripped-down | stripped back | uncluttered | clean | straightforward: C-25
repetitive | repeating | loop | looping | loopable | hypnotic | droning | monotonous | one-note | ostinato: C-25
catchy | singalong | sing-along | hummable | nursery rhyme | jingle | earworm | ditty | easy listening: C-18 B+10
solo | one instrument | single instrument | solo guitar | just a guitar: C-18 A+12
puzzle | thinking | strategy: C+10 E-10

# era
nostalgic | nostalgia | retro | vintage | old-school | oldschool | throwback | classic | old-fashioned: N+30
old-timey | bygone | timeless | yesteryear | golden age | back in the day | good old days: N+30
childhood | growing up | memories | memory | remember: N+28 W+8
reminiscent | reminisce | long ago | old times | way back: N+28 W+8
vinyl | record player | turntable | cassette | tape: N+25 W+8
mixtape | walkman | vhs | jukebox | gramophone | phonograph: N+25 W+8
crackle | crackly | dusty | faded | sepia | polaroid | film grain | tape hiss | warped | worn: N+25 W+8
saturday morning cartoon | cartoon | cartridge | console: N+22 B+8
old | older | ancient | antique | traditional | heritage | ancestral | timeworn: N+22 A+10
y2k | nineties | eighties | seventies | sixties | fifties: N+28
new wave | new romantic: N+28 A-20
modern | contemporary | current | present-day | trendy | trending | fashionable | fresh | brand-new: N-28
latest | up-to-date | cutting-edge | state-of-the-art | next-gen | next-generation: N-28
innovative | forward-thinking | forward-looking | novel: N-30 A-8
futuristic | future | tomorrow | space-age | ultramodern: N-30 A-8
sleek | glossy | polished | slick: N-15 A-5

# game scenes, as designers brief them
boss fight | boss battle | final boss | battle | combat | fight | war drum | chase | chase scene | escape: E+28 B-5
action | action-packed | racing | race | speedrun | training montage: E+25
title screen | main menu | menu | pause menu | lobby | loading screen | shop | store: C-12 E-5
village | town | hometown | farm | countryside | pastoral | rural | cottage | inn | harvest: W+18 A+15 N+12 E-5
forest | woods | woodland | meadow | river | lake | nature: A+15 W+8 E-8
castle | kingdom | royal | throne room | cathedral | temple | shrine: A+15 C+12 N+12
space | outer space | galaxy | cosmos | cosmic | star | starlight | nebula: A-15 N-12 E-8
underwater | ocean | sea | wave | aquatic: E-12 B+5
snow | snowy | winter | ice | arctic | blizzard: W-15 E-8
credits | ending | epilogue | farewell | goodbye | sunset: E-15 N+15 W+12
game over | defeat: B-20 E-10
level up | level complete | stage clear: B+25 E+15
tutorial: C-15 E-5 B+10

# words that contain a term but mean something else
rock bottom | cool down: 0
"""

_JA_LEXICON = """
# テンポ・勢い
速 | はや | アップテンポ | ハイテンポ | 疾走 | 駆け抜け | 突っ走: E+28
激し | 荒々し | 荒ぶ | 勢い | 迫力 | 力強 | パワフル | エネルギッシュ | ハイテンション | テンション高 | テンションが高: E+25
アゲアゲ | ぶち上が | 盛り上が | 熱い | 熱く | 熱血 | 燃え | アツい | ノリノリ | ノリがいい | ノリの良 | 躍動 | ハード: E+25
爆音 | 轟音 | うるさ | 騒が: E+20 W-5
元気 | にぎやか | 賑やか: E+20 B+12
踊れ | 踊り | 踊る | ダンス | ダンサブル | グルーヴ | グルーブ | 弾む | 弾け | 跳ね: E+20 B+8
壮大 | 勇まし | 勇壮 | 英雄 | ヒロイック | 決戦 | クライマックス: E+22 C+15
遅 | スロー | スローテンポ | ゆっくり | ゆったり | のんびり | まったり | ゆるい | ゆるく | ゆるめ | ゆるやか | ゆるっと | だらだら: E-25
静か | 静けさ | 穏やか | 落ち着 | 物静か | おとなし | 安らぎ | 安らか | くつろ | チル | チルアウト | しっとり | ふんわり: E-25
癒し | 癒やし | 癒され | 癒やされ | ヒーリング | リラックス | 瞑想 | 眠 | 寝 | 子守唄 | 子守歌 | おやすみ | 夢見心地: E-25 W+8
作業用 | 勉強 | 読書: E-15 C-8
アンビエント | 環境音楽: E-25 A-15 C-15

# ぬくもり
温か | 暖か | あったか | あったま | 温ま | あたたか | ぬくもり | 温もり | ぬくぬく | ほっこり | ほのぼの | 心温ま | 心あたたま: W+25
優し | やさし | 柔らか | やわらか | まろやか | 包み込 | 包まれ | ほっと | ハートフル | 人情 | 家庭的 | 親しみ | 人懐っこ: W+25
愛 | 愛情 | ラブ | ロマンチック | ロマンティック | 甘い | 甘く | 甘め: W+22 B+5
暖炉 | 焚き火 | たき火 | キャンプファイヤー | こたつ | 毛布 | 陽だまり | ひだまり: W+22 E-8
おばあちゃん | おじいちゃん | 実家 | 故郷 | ふるさと | 田舎: W+20 N+20
冷た | 冷ややか | 冷酷 | 冷徹 | 冷え | 寒 | 凍 | 氷 | 無機質 | 無機的 | 無感情 | 感情のな | 無表情 | 淡々 | そっけな: W-25
素っ気な | ドライ | 突き放 | よそよそし | 殺伐 | 殺風景 | 荒涼 | 虚無 | 空虚: W-25
孤独 | 寂寥 | ひとりぼっち: W-20 B-12
クール: W-12
機械的: W-22 A-15
刺々し | トゲトゲ | 攻撃的 | 殺気 | 凶暴 | 狂気: W-20 E+15 B-10

# 明るさ
明る | 晴れ | 快晴 | 青空 | 太陽 | 陽気 | 日差し | 光 | 輝 | キラキラ | きらきら | きらめ | キラめ | まぶし | 眩し: B+25
華やか | 爽やか | さわやか | 爽快 | 軽やか | ハッピー | 幸せ | しあわせ | 嬉し | うれし | 喜び | 希望 | 前向き: B+25
ポジティブ | 可愛 | かわい | カワイイ | キュート | コミカル | おどけ | ほがらか | 朗らか | 長調 | メジャーキー: B+25
楽し | たのし: B+25 E+5
ポップ: B+15 E+12 C-10 A-10
夏 | 春 | 朝 | 夜明け | 朝焼け | 海辺 | ビーチ | 南国 | トロピカル | ピクニック | お花畑: B+18
祭 | お祭り | 祝 | 祝祭 | パレード | 勝利 | 凱旋 | ファンファーレ | レベルアップ | クリア: B+22 E+15
暗 | ダーク | 闇 | 影 | 陰 | 陰鬱 | 憂鬱 | どんより | 重苦し | 重た | 薄暗: B-25
悲し | かなし | 哀し | 寂し | さみし | さびし | 物悲し | 悲壮 | 悲劇 | 絶望 | 嘆き | 涙 | 泣け | 泣き: B-25 E-8
切な | せつな | メランコリ | 短調 | マイナーキー | マイナー調: B-22 W+5
哀愁: B-15 N+15
不穏 | 不気味 | 怖 | こわ | 恐怖 | ホラー | おどろおどろし | 禍々し | 邪悪 | 呪 | 幽霊 | お化け | 悪夢 | ゾッと | ぞっと: B-28 W-12
緊張 | サスペンス | 潜入 | ステルス | 謎 | ミステリアス: B-15 C+10
緊迫 | スリル | スリリング | ハラハラ: B-12 E+15
神秘: B-5 C+10 A+5
夜 | 深夜 | 真夜中 | 夕暮れ | 黄昏 | たそがれ | 曇り | 月夜: B-12 E-5
雨 | 霧: B-12 E-8 W+5
嵐: B-15 E+12
ダンジョン | 洞窟 | 地下 | 墓地 | 廃墟 | 遺跡 | 地獄: B-15 W-8

# 楽器・生音
アコースティック | アコギ | 生音 | 生楽器 | 生演奏 | 生バンド | アンプラグド | ナチュラル | オーガニック | 木の音 | 木製: A+28
手作り | 手弾き: A+18
弾き語り: A+30 W+10 C-10
素朴: A+18 C-15 W+10
ギター: A+12
エレキ: A-5 E+15
ピアノ: A+22
ピアノだけ | ピアノ一本 | ギターだけ | ギター一本 | 独奏 | ソロ: A+25 C-20
ストリングス | 弦楽 | バイオリン | ヴァイオリン | チェロ | コントラバス | ウッドベース | ハープ | 竪琴: A+25 W+5
フルート | 笛 | リコーダー | クラリネット | オーボエ | ファゴット | 木管 | オカリナ | ハーモニカ: A+25
金管 | ブラス | トランペット | トロンボーン | ホルン | サックス | 吹奏楽: A+22 E+8
アコーディオン | バンジョー | マンドリン | ウクレレ | バグパイプ | リュート | シタール: A+30 N+15
和楽器 | 琴 | 箏 | 三味線 | 尺八 | 篠笛 | 雅楽 | 和風: A+30 N+25
太鼓 | 和太鼓: A+28 E+20 N+15
マリンバ | 木琴 | 鉄琴 | グロッケン | チェレスタ | 鈴 | ハンドベル | カリンバ: A+18 B+15
オルゴール: A+18 B+10 N+20 E-15
打楽器 | パーカッション | ボンゴ | コンガ | タンバリン | カホン: A+20 E+5
合唱 | コーラス | 聖歌 | 賛美歌 | アカペラ: A+25 C+10
オーケストラ | オケ | 管弦楽 | 交響 | シンフォニー | シンフォニック | 室内楽 | 映画音楽 | 劇伴 | 荘厳 | 壮麗: A+28 C+25 E+5
シネマティック: C+20 A+10 E+10
フォーク | カントリー | ブルーグラス | ケルト | アイリッシュ | 中世 | 吟遊詩人 | 民族音楽 | 民謡: A+30 W+15 N+20
童謡 | 唱歌: A+20 N+25 C-20 B+10
ジャズ | ジャジー | スウィング | スイング | ビッグバンド | ボサノバ | ボサノヴァ | ラグタイム: A+25 C+22 W+15 N+20
ブルース | ソウル | ゴスペル | モータウン: A+15 W+25 N+20
クラシック | バロック | オペラ | ワルツ | 協奏曲 | 交響曲 | ソナタ | ノクターン | 夜想曲: A+30 C+25 N+25
ロック | バンドサウンド | バンド | ギターロック: E+22 A+10
ドライブ: E+12 B+5
パンク | メロコア | ハードコア: E+32 C-15
メタル | ヘヴィメタル | ヘビメタ | デスメタル | スラッシュメタル | メタルコア | デスボ | シャウト: E+35 B-15 W-15 A-5
重低音: E+15 A-15
歪 | ディストーション | ファズ | グランジ: E+15 B-10 A-10
プログレ | フュージョン | マスロック: C+32
シューゲイザー | ドリームポップ | ポストロック: C+10 E-5 W+5
レゲエ | スカパンク: E+10 W+15
ファンク | ファンキー | ディスコ: E+22 N+25 W+10
歌謡 | 演歌 | グループサウンズ: N+35 W+15 A+10
シティポップ: N+32 W+10 B+12 A-5
ヒップホップ | ラップ: A-15 E+12
アイドル | アニソン: B+15 E+12 C-10 A-10

# 電子
電子 | 電子音 | エレクトロ | エレクトロニカ | エレクトロニック | デジタル | 打ち込み | コンピュータ | パソコン | シーケンス: A-30
シンセ | シンセサイザー | アルペジオ | モジュラー: A-30
ドラムマシン | サンプラー | ボコーダー | オートチューン | ケロケロ | ワブル: A-25 E+10
クラブ | レイヴ | パリピ | フェス: A-30 E+30
パーティー: A-12 E+20 B+12
テクノ | ハウスミュージック | ディープハウス | トランス | ハードスタイル | ドラムンベース | ドラムン | ブレイクビーツ | ダブステップ: A-32 E+25
チップチューン | ピコピコ | 8ビット | ファミコン | スーファミ | ゲームボーイ | レトロゲーム | 昔のゲーム | ドット絵: A-30 N+35 B+10 C-8
アーケード | ゲーセン: A-25 N+30 B+8
シンセウェーブ | レトロウェーブ | ヴェイパーウェイブ | ベイパーウェイブ: A-32 N+30
ローファイ | ロウファイ | チルホップ: A-10 E-20 W+18 N+18 C-12
グリッチ | ノイズ: A-30 W-18 C+15
インダストリアル: A-30 W-22 E+15 B-15
サイバー | サイバーパンク | 近未来 | 宇宙船 | ハイテク | アンドロイド | ロボット: A-25 N-25 W-10
ネオン: A-15 N-10 B+10
宇宙 | 星空 | 銀河 | 星: A-15 N-12 E-8
ボカロ | ボーカロイド | ハイパーポップ: A-30 N-25 E+25 B+10

# 複雑さ
複雑 | 凝った | 凝って | 緻密 | 精巧 | 重層 | 多層 | 幾重 | 入り組 | 込み入 | 作り込 | 展開が多 | 展開の多 | 展開多: C+28
目まぐるし | 技巧 | テクニカル | 超絶 | 変拍子 | 転調 | ポリリズム | シンコペーション | 対位法: C+30
音数が多 | 音数の多 | 音数多 | 聴きごたえ | 聴き応え | 奥深 | 奥行き | 豪華 | 贅沢: C+25
重厚: C+22 E+10 W+5
実験的 | 前衛 | アバンギャルド | 予測不能 | 予想外 | 展開が読めな | 先が読めな: C+25
シンプル | 単純 | 簡素 | 素直 | ミニマル | 最小限 | 音数が少な | 音数少な | 音数の少な | 音が少な: C-28
すっきり | あっさり | さっぱり | 飾り気のな | 飾らな | 地味 | 淡白 | 薄味 | ベーシック | 王道: C-22
繰り返 | ループ | 反復 | 単調 | 延々 | ずっと同じ | 同じフレーズ | ワンフレーズ | ドローン: C-25
覚えやす | 口ずさ | キャッチー | わかりやす | 分かりやす | 耳に残: C-18 B+10
パズル | 謎解き | 考え事: C+10 E-10

# 時代
懐かし | なつかし | ノスタルジ | 郷愁 | レトロ | ヴィンテージ | ビンテージ | アンティーク | 昔 | 古 | 往年 | 懐メロ: N+30
昭和 | 大正 | 明治 | 平成 | 一昔前 | 時代を感じ | 年代物 | セピア | 色あせ | 色褪せ: N+30
思い出 | 想い出 | 子どもの頃 | 子供の頃 | 幼い頃 | 少年時代 | 学生時代 | あの頃 | あの日 | 帰り道 | 放課後: N+28 W+8
夏休み | 青春: N+25 B+10 E+5
レコード | カセット | テープ | ラジカセ | ジュークボックス | 蓄音機 | 針の音: N+25 W+8
今っぽ | 今風 | 今どき | 今時 | 最新 | 最先端 | 先進 | 新し | 新鮮 | フレッシュ | 斬新 | 革新 | 現代 | モダン | トレンド | 流行: N-28
未来 | 未来的 | フューチャー: N-30 A-8
洗練 | スタイリッシュ | おしゃれ | オシャレ | 都会的 | 都会: N-15 C+5

# ゲームの場面
戦 | 戦い | 戦闘 | バトル | ボス戦 | ボス | ラスボス | 決闘 | 対決 | 追跡 | 逃走 | 追いかけ | カーチェイス: E+28 B-5
アクション | レース | スピード: E+25
タイトル画面 | メニュー | ロビー | ショップ | お店: C-12 E-5
村 | 町 | 街 | 牧場 | 農場 | 宿屋 | 酒場 | 収穫: W+18 A+15 N+12 E-5
森 | 林 | 小川 | 湖 | 自然: A+15 W+8 E-8
城 | 王国 | 王宮 | 玉座 | 大聖堂 | 神殿 | 神社 | お寺: A+15 C+12 N+12
海 | 水中 | 海底 | 波: E-12 B+5
雪 | 冬 | 吹雪: W-15 E-8
エンディング | スタッフロール | エピローグ | 別れ | さよなら | 夕焼け | 夕日: E-15 N+15 W+12
ゲームオーバー | 敗北: B-20 E-10
チュートリアル: C-15 E-5 B+10

# 別の意味の語を含む言葉
グループ | レベル | ブロック | スカイ | カラオケ | あらゆる | 作戦 | 観光: 0
"""

# Degree words scale a term; "not"-words flip it. Players often put an extreme
# as a negation ("not upbeat at all") and the mild end as "not too ...".
_EN_STRONG = frozenset(
    "extremely incredibly insanely totally absolutely utterly ultra crazy completely fully entirely purely "
    "unbelievably ridiculously super mega maximum".split()
)
_EN_MEDIUM = frozenset(
    "very really so seriously deeply highly heavily massively intensely properly genuinely pretty quite "
    "lots tons full pure decidedly".split()
)
_EN_MILD = frozenset(
    "slightly bit little somewhat kinda kind sorta sort fairly mildly touch hint partly lightly moderately tad".split()
)
_EN_NEGATORS = frozenset(
    "not no never without isn't aren't don't doesn't won't isnt arent dont doesnt nothing none zero avoid skip "
    "lacking minus barely hardly".split()
)
_EN_WEAK_NEGATORS = frozenset({"less", "fewer"})
# "not too fast", "not very dark": a negated degree word asks for the mild opposite.
_EN_SOFTENERS = frozenset("too overly very that so super particularly especially terribly".split())
_EN_CLAUSE_BREAK = re.compile(
    r"[,.;:!?()\[\]/]|\b(?:but|and|though|although|yet|while|just|instead|plus|then|rather)\b"
)
_EN_FULL_NEGATION_AFTER = re.compile(r"^(?:\W+\w+){0,2}?\W+(?:at all|in the slightest|whatsoever)\b")
_EN_WORD = re.compile(r"[a-z']+")
_EN_CONTEXT_CHARS = 60  # more than the four words a negation or degree word may stand back

_JA_STRONG = tuple(
    "めちゃくちゃ めちゃめちゃ めっちゃ 超 ものすごく 最高に 思いっきり 思い切り 完全に とことん ひたすら 極めて 死ぬほど "
    "ゴリゴリ バリバリ".split()
)
_JA_MEDIUM = tuple("すごく すっごく とても かなり けっこう 結構 だいぶ しっかり 相当 なかなか 本当に ほんとに".split())
_JA_MILD = tuple(
    "ちょっと ちょい 少し やや わりと 割と ほんのり なんとなく ほんの 多少 若干 軽く そこそこ 気持ち".split()
)
_JA_FULL_NEGATION_CUES = ("全然", "全く", "まったく", "ちっとも", "一切", "少しも", "微塵も")
_JA_MILD_NEGATION_CUES = ("あまり", "あんまり", "そんなに", "それほど", "さほど")
# What negates a term, in the words between it and the next term or clause
# break: okurigana ("くない", "じゃなくて", "なし") or a verb ("シンセは使わない", "抜き").
_JA_NEGATIONS = ("ない", "なく", "なし", "無し", "無く", "抜き", "ぬき", "禁止", "ゼロ", "せず", "わず", "すぎず", "過ぎず")
# "...とかないかな？" asks for something; it negates nothing.
_JA_REQUEST_IDIOMS = ("ないかな", "ないですか", "ないでしょうか", "ありませんか")
_JA_NEGATION_REACH = 12  # characters after a term
_JA_SOFTENING_WORDS = ("控えめ", "少なめ", "少な", "抑えめ")
_JA_BOOSTING_WORDS = ("多め", "多い", "たっぷり", "強め", "マシマシ", "全開", "全振り", "だらけ")
_JA_CLAUSE_BREAK = re.compile(r"[、。，．,.!?！？\s「」（）()・]")
_JA_KANA_RUN = re.compile(r"[ぁ-ゖー]{0,10}")
_JA_CHARACTERS = re.compile(r"[ぁ-ゖァ-ヺ一-鿿]")

_BPM = re.compile(r"(?<![0-9])(\d{2,3})\s*bpm\b|\bbpm\s*(?:of\s*|=\s*|:\s*)?(\d{2,3})(?![0-9])")
_DECADE = re.compile(r"(?<![0-9])(?:19)?([5-9]0)(?:'?s\b|年代)")

STRONG, MEDIUM, MILD = 1.6, 1.3, 0.5
NEGATED, NEGATED_MILD, NEGATED_FULL = -0.7, -0.4, -1.0
# The summed points of an axis go through tanh, so that many mentions approach
# but never pass the ends of the scale: 45 points give 50 +/- 38.
_SATURATION = 45.0


def _parse_deltas(spec: str, line: str) -> tuple[float, ...]:
    deltas = [0.0] * len(AXES)
    for token in spec.split():
        if token == "0":
            continue
        code, value = token[0], token[1:]
        if code not in _AXIS_CODES or not re.fullmatch(r"[+-]\d+", value):
            raise ValueError(f"bad delta {token!r} in lexicon line {line!r}")
        deltas[AXES.index(_AXIS_CODES[code])] += float(value)
    return tuple(deltas)


def _parse_lexicon(source: str, key: Callable[[str], str]) -> dict[str, tuple[float, ...]]:
    """term key -> per-axis deltas; a term listed twice is a mistake in the table."""
    terms: dict[str, tuple[float, ...]] = {}
    for raw in source.strip().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        names, spec = line.rsplit(":", 1)
        deltas = _parse_deltas(spec, line)
        for name in names.split("|"):
            term = key(name.strip())
            if term in terms:
                raise ValueError(f"lexicon term {name.strip()!r} is listed twice")
            terms[term] = deltas
    return terms


def _normalize(text: str) -> str:
    """NFKC (full-width ASCII and half-width kana fold), lower case, straight apostrophes."""
    return unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")


def _english_key(term: str) -> str:
    """Words joined by one space: "lo-fi", "lo fi" and "Lo-Fi" are one term."""
    return " ".join(_EN_TOKEN.findall(_normalize(term)))


_EN_TOKEN = re.compile(r"[a-z0-9&]+(?:'[a-z]+)?")
_EN_TERMS = _parse_lexicon(_EN_LEXICON, _english_key)
_EN_LONGEST = max(term.count(" ") + 1 for term in _EN_TERMS)
_EN_PHRASE_STARTS = frozenset(term.split(" ")[0] for term in _EN_TERMS if " " in term)
_JA_TERMS = _parse_lexicon(_JA_LEXICON, _normalize)
# Longest first, so 夜明け wins over 夜 and ピアノだけ over ピアノ.
_JA_PATTERN = re.compile("|".join(re.escape(term) for term in sorted(_JA_TERMS, key=len, reverse=True)))


@dataclass(frozen=True)
class Hit:
    """One lexicon match and the factor its context gave it (negation, degree)."""

    start: int
    end: int
    term: str
    deltas: tuple[float, ...]
    factor: float = 1.0


def _english_term(phrase: str) -> str | None:
    """The lexicon key of a phrase, allowing a plural ending on its last word."""
    if phrase in _EN_TERMS:
        return phrase
    for suffix in ("es", "s"):
        if phrase.endswith(suffix) and phrase[: -len(suffix)] in _EN_TERMS:
            return phrase[: -len(suffix)]
    return None


def _english_hits(text: str) -> Iterator[Hit]:
    """Longest n-gram first at each word; a final plural -s/-es also matches."""
    tokens = list(_EN_TOKEN.finditer(text))
    words = [token.group(0) for token in tokens]
    index = 0
    while index < len(tokens):
        longest = min(_EN_LONGEST, len(tokens) - index) if words[index] in _EN_PHRASE_STARTS else 1
        for size in range(longest, 0, -1):
            phrase = " ".join(words[index : index + size])
            term = _english_term(phrase)
            if term is not None:
                yield Hit(tokens[index].start(), tokens[index + size - 1].end(), term, _EN_TERMS[term])
                index += size
                break
        else:
            index += 1


def _raw_hits(text: str) -> list[Hit]:
    """Every lexicon, BPM and decade match, leftmost-longest and non-overlapping."""
    found = list(_english_hits(text))
    found.extend(
        Hit(match.start(), match.end(), match.group(0), _JA_TERMS[match.group(0)])
        for match in _JA_PATTERN.finditer(text)
    )
    for match in _BPM.finditer(text):
        bpm = int(match.group(1) or match.group(2))
        energy = max(-40.0, min(40.0, (bpm - 105) * 0.6))
        found.append(Hit(match.start(), match.end(), match.group(0), _single("energy", energy)))
    for match in _DECADE.finditer(text):
        found.append(Hit(match.start(), match.end(), match.group(0), _single("nostalgia", 30.0)))
    found.sort(key=lambda hit: (hit.start, -(hit.end - hit.start)))
    kept: list[Hit] = []
    for hit in found:
        if not kept or hit.start >= kept[-1].end:
            kept.append(hit)
    return kept


def _single(axis: str, value: float) -> tuple[float, ...]:
    return tuple(value if name == axis else 0.0 for name in AXES)


def _english_factor(text: str, hit: Hit, previous_end: int, next_start: int) -> float:
    """Negation reaches back over its clause ("no synths or drum machines"); degree words only to the last hit."""
    window_start = max(0, hit.start - _EN_CONTEXT_CHARS)
    before = text[window_start : hit.start]
    if re.search(r"\banything but\s*$", before):
        return NEGATED_FULL
    breaks = list(_EN_CLAUSE_BREAK.finditer(before))
    clause_start = window_start + (breaks[-1].end() if breaks else 0)
    words = _EN_WORD.findall(text[clause_start : hit.start])[-4:]
    negators = [index for index, word in enumerate(words) if word in _EN_NEGATORS or word in _EN_WEAK_NEGATORS]
    if negators:
        last = negators[-1]
        if words[last] in _EN_WEAK_NEGATORS or any(word in _EN_SOFTENERS for word in words[last + 1 :]):
            return NEGATED_MILD
        if _EN_FULL_NEGATION_AFTER.match(text[hit.end : next_start] + " "):
            return NEGATED_FULL
        return NEGATED
    degree_words = _EN_WORD.findall(text[max(clause_start, previous_end) : hit.start])[-2:]
    return _degree(degree_words, _EN_STRONG, _EN_MEDIUM, _EN_MILD)


def _degree(words: Sequence[str], strong: Collection[str], medium: Collection[str], mild: Collection[str]) -> float:
    if any(word in strong for word in words) or sum(word in medium for word in words) >= 2:  # "really really"
        return STRONG
    if any(word in medium for word in words):
        return MEDIUM
    if any(word in mild for word in words):
        return MILD
    return 1.0


def _japanese_factor(text: str, hit: Hit, previous_end: int, next_start: int) -> float:
    """Negation follows a term (up to the next term or clause break), degree adverbs precede it."""
    before = text[max(previous_end, hit.start - 10) : hit.start]
    breaks = list(_JA_CLAUSE_BREAK.finditer(before))
    before = before[breaks[-1].end() :] if breaks else before
    after = text[hit.end : min(next_start, hit.end + _JA_NEGATION_REACH)]
    after = after[: m.start()] if (m := _JA_CLAUSE_BREAK.search(after)) else after
    for cut in ("けど", "けれど", "のに"):
        after = after.split(cut)[0]
    for idiom in _JA_REQUEST_IDIOMS:
        after = after.replace(idiom, "")
    okurigana = _JA_KANA_RUN.match(after).group(0)
    rest = after[len(okurigana) :]
    negated = any(negation in after for negation in _JA_NEGATIONS)
    if (negated and ("すぎ" in after or "過ぎ" in after)) or rest.startswith(_JA_SOFTENING_WORDS):
        return NEGATED_MILD
    if negated:
        context = before + after
        if any(cue in context for cue in _JA_FULL_NEGATION_CUES):
            return NEGATED_FULL
        if any(cue in context for cue in _JA_MILD_NEGATION_CUES):
            return NEGATED_MILD
        return NEGATED
    if rest.startswith(_JA_BOOSTING_WORDS):
        return MEDIUM
    if okurigana.startswith("め") or rest.startswith(("寄り", "気味")):
        return MILD
    cues = [cue for cue in (*_JA_STRONG, *_JA_MEDIUM, *_JA_MILD) if cue in before]
    return _degree(cues, _JA_STRONG, _JA_MEDIUM, _JA_MILD)


def analyse(text: str) -> list[Hit]:
    """The lexicon hits of one request, each with its context factor (for debugging a rule)."""
    normalized = _normalize(text)
    japanese = bool(_JA_CHARACTERS.search(normalized))
    hits = _raw_hits(normalized)
    weighted = []
    for index, hit in enumerate(hits):
        previous_end = hits[index - 1].end if index else 0
        next_start = hits[index + 1].start if index + 1 < len(hits) else len(normalized)
        if japanese:
            factor = _japanese_factor(normalized, hit, previous_end, next_start)
        else:
            factor = _english_factor(normalized, hit, previous_end, next_start)
        weighted.append(Hit(hit.start, hit.end, hit.term, hit.deltas, factor))
    return weighted


def predict_values(text: str) -> tuple[int, ...]:
    """Six values 0-100: 50 plus the squashed sum of the weighted hits per axis."""
    totals = [0.0] * len(AXES)
    for hit in analyse(text):
        for index, delta in enumerate(hit.deltas):
            totals[index] += delta * hit.factor
    return tuple(round(50 + 50 * math.tanh(total / _SATURATION)) for total in totals)


class RuleBaseline(RulePredictor):
    """The Predictor of the lexicon: strict JSON out, per-request latency measured."""

    def answer(self, text: str) -> str:
        return format_target(predict_values(text))
