/**
 * Writes test/fixtures/ordinary-prompts.txt: 1,200 ordinary video prompts (800 English, 400 Chinese), one a line, for
 * measuring how often the blocklist refuses text it should not (test/hostile/blocklist-false-positives.test.ts).
 * Deterministic (seeded), so the fixture only changes when this script does. Run: npx tsx scripts/generate-ordinary-prompts.ts
 *
 * The vocabulary is what members ask a video model for, with words that sit close to blocked terms on purpose:
 * neighbours that spell a term across a space ("the pen is", "a menu detail", "who re-enters"), words that contain
 * one ("Sussex", "therapist", "cucumber", "cocktail", "analysis"), apostrophes ("let's hit", "robot's ex-wife").
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(20261204);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const maybe = (chance: number, text: string) => (random() < chance ? text : '');

const EN = {
  subject: [
    'a red fox', 'an old fisherman', 'a golden retriever puppy', 'two kids', 'a robot', 'a barista', 'a hummingbird',
    'a samurai', 'a ballerina', 'an astronaut', 'a street musician', 'a grandmother', 'a chef', 'a herd of elephants',
    'a paper boat', 'a vintage car', 'a koi fish', 'a snow leopard', 'a lighthouse keeper', 'a skateboarder',
    'the pen', 'a fountain pen', 'a menu', 'a sea otter', 'a dragon', 'a violinist', 'a therapist', 'a farmer from Sussex',
    'a bass player', 'a cocktail waiter', 'a librarian', 'a class of students', 'a teddy bear', 'a nudibranch',
    'a cat named Mochi', 'a pirate captain', 'a cyclist', 'a knight', 'a toddler', 'an owl', 'a jellyfish', 'a tiger',
    'a wizard', 'a pair of swans', 'a sushi chef', 'a marathon runner', 'a scientist', 'a firefighter', 'a goat',
  ],
  action: [
    'running through snow', 'dancing in the rain', 'reading a book', 'pouring latte art', 'flying over a canyon',
    'is resting on a desk', 'is drawing a map', 'walking along the beach', 'playing the violin', 'cooking ramen',
    'jumping into a lake', 'waving at the camera', 'is floating in space', 'climbing a mountain', 'painting a mural',
    'who re-enters the room', 'as seen from above', 'shows a detail of the menu', 'with a menu detail in focus',
    "let's hit the road", "the robot's ex-wife laughs", 'passing a cucumber salad', 'doing an analysis of the data',
    'playing a classic song', 'sipping a cocktail', 'is sleeping on a sofa', 'sits by a campfire', 'reading Dickens aloud',
    'skiing down a slope', 'spinning a pottery wheel', 'catching a frisbee', 'releasing lanterns into the sky',
    'go red with embarrassment', 'wearing a top hat', 'at the assistant desk', 'eating grapes', 'practicing a new skill',
    'taking a nap in the sun', 'is swimming with dolphins', 'writing a letter by candlelight', 'baking bread',
  ],
  setting: [
    'in a misty forest', 'on a neon-lit street in Tokyo', 'at golden hour', 'in a cozy cabin', 'on the surface of Mars',
    'under the northern lights', 'in a busy market', 'in a field of sunflowers', 'by a quiet lake', 'in an old library',
    'in a futuristic city', 'on a rainy night', 'in the Scottish highlands', 'in a desert at dawn', 'inside a snow globe',
    'in Essex', 'in Scunthorpe', 'in a bamboo forest', 'on a pirate ship', 'in a kitchen', 'at a jazz club',
    'in a coral reef', 'on top of a skyscraper', 'in a medieval village', 'at a train station', 'in a greenhouse',
  ],
  style: [
    'cinematic', 'slow motion', 'shot on 35mm film', 'anime style', 'watercolor', 'Pixar style 3D', 'hyperrealistic',
    'stop-motion clay animation', 'drone shot', 'handheld camera', 'macro lens', 'black and white', 'vaporwave colors',
    'tilt-shift', 'documentary style', 'studio lighting', '4K', 'dreamy soft focus', 'Wes Anderson symmetry',
  ],
  camera: ['the camera slowly pushes in', 'wide shot', 'close-up', 'tracking shot', 'the camera orbits', 'low angle', 'overhead view'],
  extra: [
    'Titles fade in at the end.', 'The pen is red.', 'Is it a dream?', 'No dialogue.', 'Soft piano music.', 'As the sun sets.',
    'Go red, go!', 'A sign reads "Open".', 'Leaves fall around them.', 'It starts to snow.', 'The sky is pink.',
    'Seen through the naked eye of a child.', 'With a cumulus cloud overhead.', 'Add a title card: "Day 1".',
  ],
};

const ZH = {
  subject: [
    '一只小狐狸', '一位老渔夫', '一只金毛小狗', '两个孩子', '一个机器人', '一位咖啡师', '一只蜂鸟', '一位武士', '一位芭蕾舞者',
    '一名宇航员', '一位街头音乐家', '一位奶奶', '一位厨师', '一群大象', '一只纸船', '一辆老爷车', '一条锦鲤', '一只雪豹',
    '一位灯塔看守人', '一个滑板少年', '一只熊猫', '一位书法家', '一只白鹤', '一位京剧演员', '一只橘猫', '一条龙',
  ],
  action: [
    '在雪地里奔跑', '在雨中跳舞', '正在读书', '拉花倒咖啡', '飞越峡谷', '在沙滩上散步', '演奏小提琴', '煮拉面', '跳进湖里',
    '对着镜头挥手', '漂浮在太空中', '攀登高山', '画壁画', '放孔明灯', '包饺子', '打太极拳', '放风筝', '写毛笔字', '喝茶',
    '划着小船', '在竹林中穿行', '吃火锅', '骑自行车', '追着蝴蝶',
  ],
  setting: [
    '在薄雾笼罩的森林里', '在东京霓虹闪烁的街头', '在黄金时刻', '在温暖的小木屋里', '在火星表面', '在北极光下', '在热闹的集市上',
    '在向日葵花田里', '在宁静的湖边', '在古老的图书馆里', '在未来城市中', '在雨夜', '在黎明的沙漠里', '在雪花水晶球里',
    '在江南水乡', '在长城上', '在桂林山水间', '在故宫的红墙边', '在海底珊瑚礁中', '在摩天大楼顶上', '在岩石裸露的山坡上',
  ],
  style: ['电影感', '慢动作', '胶片质感', '动漫风格', '水彩画风', '皮克斯风格3D', '超写实', '定格动画', '航拍镜头', '手持镜头',
    '微距镜头', '黑白画面', '水墨画风格', '4K高清', '梦幻柔焦', '赛博朋克风格', '国风'],
  camera: ['镜头缓缓推进', '远景', '特写', '跟拍', '环绕镜头', '低角度仰拍', '俯拍'],
};

function english(): string {
  const parts = [`${pick(EN.subject)} ${pick(EN.action)} ${pick(EN.setting)}`, pick(EN.style)];
  const prompt = parts.join(', ') + maybe(0.5, `, ${pick(EN.camera)}`);
  return prompt + maybe(0.35, `. ${pick(EN.extra)}`);
}

function chinese(): string {
  return `${pick(ZH.subject)}${pick(ZH.setting)}${pick(ZH.action)}，${pick(ZH.style)}${maybe(0.5, `，${pick(ZH.camera)}`)}${maybe(0.2, '，无字幕')}`;
}

const prompts = new Set<string>();
while (prompts.size < 800) prompts.add(english());
while (prompts.size < 1200) prompts.add(chinese());

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '../test/fixtures/ordinary-prompts.txt');
fs.writeFileSync(out, [...prompts].join('\n') + '\n');
console.log(`wrote ${prompts.size} prompts to ${out}`);
