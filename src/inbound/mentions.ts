/**
 * Who a group message mentions: the members (`atUsers` without the robot), whether the robot is mentioned, and the
 * robot's own `@name` removed from the text — only it. Payload facts: DingTalk removes the robot's `@name` from group
 * `text` and keeps the space after it (`" 帮我总结一下"`, PEDIA :224;
 * `{"atUsers":[{"dingtalkId":"<bot>"}],"text":{"content":" /server"}}`, AstrBotDevs/AstrBot#9389); some clients remove
 * every `@name`, leaving the other members only in `atUsers` (issue 14); group `richText` keeps the robot's `@name` as
 * its own run, glued to the next run with no space (`[{"text":"@机器人"},{"text":"/server"}]` from the HarmonyOS
 * client, AstrBot#9389; QwenLM/qwen-code#11566).
 */
import type { BodyPart, MentionedUser } from '../inbound.ts';
import { isObject, str, type Json } from './json.ts';
import type { Run } from './runs.ts';

function atUsers(v: unknown): MentionedUser[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((u) => (isObject(u) && str(u.dingtalkId) ? [{ dingtalkId: str(u.dingtalkId)!, staffId: str(u.staffId) }] : []));
}

/** Members the message @-mentions, the robot left out. */
export function mentionedMembers(v: unknown, robotIds: Set<string>): MentionedUser[] {
  return atUsers(v).filter((u) => !robotIds.has(u.dingtalkId) && !(u.staffId && robotIds.has(u.staffId)));
}

/** A visible `@name` in the text: which run, where, and whether a structured run already says who it is. */
interface MentionToken {
  run: number;
  start: number;
  end: number;
  userId?: string;
  structured: boolean;
}

/**
 * Removes the robot's own @mention, and only it. DingTalk says who was mentioned (`atUsers`) but not their
 * names, so the robot's mention is identified by evidence, never by position alone:
 * - a structured at-run whose user id is the robot's;
 * - otherwise, when the text shows one more `@name` than the members DingTalk lists, the surplus is the robot's:
 *   taken only if it is unambiguous — it starts the message, or (when it does not) ends it.
 * When names were removed by DingTalk (fewer `@name`s than members) nothing is removed.
 */
export function removeRobotMention(
  runs: Run[],
  ctx: { robotIds: Set<string>; robotMentioned: boolean; members: number },
): { parts: BodyPart[]; visibleMemberMentions: number } {
  const texts = runs.map((r) => ('text' in r ? r.text : 'at' in r ? `@${r.at}` : undefined));
  const tokens: MentionToken[] = [];
  runs.forEach((r, i) => {
    if ('at' in r) tokens.push({ run: i, start: 0, end: texts[i]!.length, userId: r.userId, structured: true });
    else if ('text' in r) {
      // A name ends at whitespace or where its run ends (runs may be glued with no space).
      for (const m of r.text.matchAll(/(?<=^|\s)@[^\s@]+(?=\s|$)/gu)) tokens.push({ run: i, start: m.index!, end: m.index! + m[0].length, structured: false });
    }
  });
  let robot: MentionToken | undefined = tokens.find((t) => t.structured && t.userId && ctx.robotIds.has(t.userId));
  if (!robot && ctx.robotMentioned && tokens.length > ctx.members && !tokens.some((t) => t.structured && t.userId)) {
    const first = tokens[0];
    const last = tokens.at(-1);
    if (first && isAtEdge(texts, first, 'start')) robot = first;
    else if (last && isAtEdge(texts, last, 'end')) robot = last;
  }
  const parts: BodyPart[] = [];
  let mediaIndex = 0;
  const pushText = (t: string) => {
    const prev = parts.at(-1);
    if (prev && 'text' in prev) prev.text += t;
    else parts.push({ text: t });
  };
  runs.forEach((r, i) => {
    if ('media' in r) {
      parts.push({ media: mediaIndex++ });
      return;
    }
    let t = texts[i]!;
    // \s covers U+2005, the space DingTalk puts after a mention.
    if (robot && robot.run === i) t = t.slice(0, robot.start) + t.slice(robot.end).replace(/^\s+/u, '');
    if (t) pushText(t);
  });
  // Trim the text pieces at the edges of the message; keep inner spacing as written.
  const first = parts[0];
  if (first && 'text' in first) first.text = first.text.replace(/^\s+/u, '');
  const last = parts.at(-1);
  if (last && 'text' in last) last.text = last.text.replace(/\s+$/u, '');
  return { parts: parts.filter((p) => !('text' in p) || p.text.length > 0), visibleMemberMentions: tokens.length - (robot ? 1 : 0) };
}

/** Is the token the first (or last) non-blank thing in the message? */
function isAtEdge(texts: Array<string | undefined>, t: MentionToken, edge: 'start' | 'end'): boolean {
  const before = edge === 'start' ? texts.slice(0, t.run) : texts.slice(t.run + 1);
  if (before.some((s) => s === undefined || s.trim() !== '')) return false;
  const own = texts[t.run]!;
  return edge === 'start' ? own.slice(0, t.start).trim() === '' : own.slice(t.end).trim() === '';
}

/**
 * A robot set to receive every group message gets unmentioned ones too; `isInAtList` says which (spec §2.1,
 * PEDIA). Without it, the robot's own id in `atUsers` decides; a payload with neither came to a normal robot,
 * which DingTalk only sends @-messages.
 */
export function mentionsBot(raw: Json): boolean {
  if (typeof raw.isInAtList === 'boolean') return raw.isInAtList;
  const bot = str(raw.chatbotUserId);
  if (bot && Array.isArray(raw.atUsers)) return raw.atUsers.some((u) => isObject(u) && u.dingtalkId === bot);
  return true;
}
