/**
 * Keeps user-supplied text (own words, quoted and forwarded content, names) from posing as the plugin's framing
 * in the agent's prompt (src/prompt.ts). The framing is: header lines starting with `[` (or `【`), quote lines
 * starting with `> `; a line of user text starting like that gets a leading `\` (Markdown's escape, which models
 * read as "literal"). Names set inside a header are made single-line without brackets.
 */

/** A line that starts (after spaces) like a framing header or quote line, or with the escape itself. */
const FRAMING_START = /^(\s*)(?=[[【>＞\\])/u;
/** A line that starts like a speaker label `名字: ` / `名字：` (not a URL scheme). */
const SPEAKER_START = /^(\s*)(?=[^\s:：[\]【】>＞\\]{1,24}\s*[:：](?!\/\/))/u;

/**
 * `text` with every line that starts like framing escaped by a leading `\`.
 * @param speakers also escape lines that start like a speaker label (`张总: …`): used where several people
 *   share the conversation (group chats), so a line cannot pose as another member speaking.
 */
export function escapeUserText(text: string, speakers = false): string {
  return text
    .split('\n')
    .map((line) => line.replace(FRAMING_START, '$1\\').replace(speakers ? SPEAKER_START : /(?!)/, '$1\\'))
    .join('\n');
}

/** A name (sender, file) for inside a framing line: one line, no brackets, at most `max` characters. */
export function inlineName(name: string, max = 80): string {
  const flat = name.replace(/[[\]【】「」]/gu, '').replace(/\s+/gu, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
