import type { FsApplication, Prompt, PromptPart } from './types';

/** Values an announcement may speak: `{minutes}` and `{seconds}` in say/speak parts. */
export interface PromptValues { minutes?: number; seconds?: number }

/** Replaces `{name}` by its value; a name without a value is an error of the config, caught at start. */
function fill(text: string, values: PromptValues): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const v = (values as Record<string, number | undefined>)[name];
    if (v === undefined) throw new Error(`prompt text "${text}" names {${name}}, which this announcement does not have`);
    return String(v);
  });
}

/** The FreeSWITCH application that plays one part. */
export function renderPart(part: PromptPart, values: PromptValues = {}): FsApplication {
  if ('file' in part) return { app: 'playback', arg: part.file };
  if ('tone' in part) return { app: 'playback', arg: `tone_stream://${part.tone}` };
  if ('say' in part) return { app: 'say', arg: `${part.language} ${part.type} ${part.method} ${fill(part.say, values)}` };
  return { app: 'speak', arg: `${part.engine}|${part.voice}|${fill(part.speak, values)}` };
}

export function renderPrompt(prompt: Prompt, values: PromptValues = {}): FsApplication[] {
  return prompt.map((p) => renderPart(p, values));
}

/** Names every placeholder of a prompt that `allowed` does not have (config check at start). */
export function unknownPlaceholders(prompt: Prompt, allowed: readonly (keyof PromptValues)[]): string[] {
  const out: string[] = [];
  for (const part of prompt) {
    const text = 'say' in part ? part.say : 'speak' in part ? part.speak : '';
    for (const m of text.matchAll(/\{(\w+)\}/g)) if (!allowed.includes(m[1] as keyof PromptValues)) out.push(m[1]!);
  }
  return out;
}

const MIX_LIMIT_SLACK_SECONDS = 0.05;

/**
 * The API command that mixes a file or tone into a running channel (what that channel's party
 * hears), without taking the other party's audio away: `uuid_displace ... mux`, stopped after
 * limitSeconds, in whole seconds. A timer that fires a millisecond early leaves 1.001 s for what
 * was to be 1 s: up to 50 ms over a whole second round down, not up a second past the end.
 */
export function mixCommand(uuid: string, part: PromptPart, limitSeconds: number): string {
  let source: string;
  if ('file' in part) source = part.file;
  else if ('tone' in part) source = `tone_stream://${part.tone}`;
  else throw new Error('only files and tones can be mixed into a running call');
  if (/\s/.test(source)) throw new Error(`a mixed prompt may not contain white space: "${source}"`);
  if (!/^[\w-]+$/.test(uuid)) throw new Error(`not a channel uuid: "${uuid}"`);
  return `uuid_displace ${uuid} start ${source} ${Math.max(1, Math.ceil(limitSeconds - MIX_LIMIT_SLACK_SECONDS))} mux`;
}
