// docs/cli.md, made from the commands themselves (their option tables): every command with its
// arguments and options, and the short flags of all commands side by side.
import type { Command } from 'commander';

function commandsOf(program: Command): Array<{ path: string; cmd: Command }> {
  const out: Array<{ path: string; cmd: Command }> = [];
  const walk = (c: Command, prefix: string): void => {
    for (const sub of c.commands) {
      const path = `${prefix}${sub.name()}`;
      if (sub.commands.length === 0) out.push({ path, cmd: sub });
      walk(sub, `${path} `);
    }
  };
  walk(program, '');
  return out;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The short flag letters of each command, e.g. { capture: { i: '--ips', … } }. */
export function shortFlags(program: Command): Map<string, Map<string, string>> {
  return new Map(
    commandsOf(program).map(({ path, cmd }) => [
      path,
      new Map(cmd.options.filter((o) => o.short && !o.hidden).map((o) => [o.short!.slice(1), o.long ?? o.short!])),
    ]),
  );
}

export function cliReference(program: Command): string {
  const parts = [
    '# Command reference',
    '',
    "Generated from the commands' option tables (`npm run docs`); a test fails when this file is stale.",
    '',
  ];
  for (const { path, cmd } of commandsOf(program)) {
    const args = cmd.registeredArguments.map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`)).join(' ');
    parts.push(`## cnspect ${path}${args ? ` ${args}` : ''}`, '', cell(cmd.description() || cmd.summary()), '');
    if (cmd.registeredArguments.length) {
      parts.push('| argument | meaning |', '|---|---|');
      for (const a of cmd.registeredArguments) parts.push(`| \`${a.name()}\` | ${cell(a.description)} |`);
      parts.push('');
    }
    const options = cmd.options.filter((o) => !o.hidden);
    if (options.length) {
      parts.push('| option | default | meaning |', '|---|---|---|');
      for (const o of options) {
        const def = o.defaultValue === undefined ? '' : `\`${String(o.defaultValue)}\``;
        parts.push(`| \`${o.flags}\`${o.mandatory ? ' (required)' : ''} | ${def} | ${cell(o.description)} |`);
      }
      parts.push('');
    }
  }
  const shorts = shortFlags(program);
  const letters = [...new Set([...shorts.values()].flatMap((m) => [...m.keys()]))].sort();
  const withShorts = [...shorts].filter(([, m]) => m.size > 0);
  parts.push(
    '## Short flags side by side',
    '',
    "wcnspect's letters are kept where wcnspect has them; `-o` is always the output format.",
    '',
  );
  parts.push(`| | ${withShorts.map(([p]) => p).join(' | ')} |`, `|---|${withShorts.map(() => '---|').join('')}`);
  for (const l of letters)
    parts.push(`| \`-${l}\` | ${withShorts.map(([, m]) => (m.get(l) ? `\`${m.get(l)}\`` : '')).join(' | ')} |`);
  parts.push('');
  return parts.join('\n');
}
