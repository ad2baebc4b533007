// One typed option table per command: it makes the commander options, the type of the parsed
// flags (FlagsOf) and the reference in docs/cli.md. Groups shared by several commands (targets
// and connection, output, server kind) are declared once here.
import { type Command, Option } from 'commander';
import { DEFAULT_AGENT_PORT } from '../contract/agent-api.js';

export interface OptionSpec {
  /** commander's flags: "-o, --output <format>", "--dry-run" … */
  readonly flags: string;
  readonly description: string;
  readonly default?: string;
  /** Repeatable: every occurrence is kept (values may also be comma-separated). */
  readonly repeatable?: boolean;
  readonly required?: boolean;
  readonly hidden?: boolean;
}

export type OptionTable = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S extends { repeatable: true }
  ? string[]
  : S['flags'] extends `${string}<${string}>${string}`
    ? string
    : boolean;

/** The parsed flags of a table: defaulted and required options are always there, the others may be absent. */
export type FlagsOf<T extends OptionTable> = {
  [K in keyof T as T[K] extends { default: string } | { required: true } ? K : never]: ValueOf<T[K]>;
} & {
  [K in keyof T as T[K] extends { default: string } | { required: true } ? never : K]?: ValueOf<T[K]>;
};

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds every option of the tables to `cmd`, in order. */
export function withOptions(cmd: Command, ...tables: OptionTable[]): Command {
  for (const table of tables) {
    for (const spec of Object.values(table)) {
      const o = new Option(spec.flags, spec.description);
      if (spec.repeatable) o.argParser(collect);
      if (spec.default !== undefined) o.default(spec.default);
      if (spec.required) o.makeOptionMandatory();
      if (spec.hidden) o.hideHelp();
      cmd.addOption(o);
    }
  }
  return cmd;
}

/** Where the nodes come from and how their agents are reached (every multi-node command). */
export const TARGET_OPTIONS = {
  inventory: {
    flags: '--inventory <file>',
    description: 'nodes, pods and TLS material (YAML; `cnspect lab up` writes one)',
  },
  kubeconfig: {
    flags: '--kubeconfig <file>',
    description: 'kubeconfig to find nodes and pods in (default: KUBECONFIG, then ~/.kube/config)',
  },
  context: { flags: '--context <name>', description: 'kubeconfig context to use' },
  transport: {
    flags: '--transport <kind>',
    description:
      'how to reach agents: tunnel (API server port-forward; default with a kubeconfig) ' +
      'or direct (node InternalIP:port; default with --inventory)',
  },
  port: { flags: '--port <port>', description: 'agent port on the nodes', default: String(DEFAULT_AGENT_PORT) },
} as const satisfies OptionTable;

/** `-n NODES`: only some of the nodes (wcnspect's flag). */
export const NODES_OPTION = {
  nodes: { flags: '-n, --nodes <nodes>', description: 'only these nodes (comma-separated)', repeatable: true },
} as const satisfies OptionTable;

export const SERVER_KIND_OPTION = {
  serverKind: {
    flags: '--server-kind <kind>',
    description: 'cnspect agents, or existing wcnspect servers (their text answers)',
    default: 'cnspect',
  },
} as const satisfies OptionTable;

/** `-o`: always the output format. */
export const OUTPUT_OPTION = {
  output: { flags: '-o, --output <format>', description: 'text or json', default: 'text' },
} as const satisfies OptionTable;
