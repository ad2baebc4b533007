// `cnspect deploy` and `cnspect cleanup`.
import { Command } from 'commander';
import { DEFAULT_AGENT_NAMESPACE, DEFAULT_AGENT_PORT } from '../contract/agent-api.js';
import { stringify } from 'yaml';
import { badFlag, CnspectError, splitList } from '../errors.js';
import type { CliContext } from './context.js';
import { parseIntInRange } from './flags.js';
import { type FlagsOf, type OptionTable, withOptions } from './options.js';

/** The cluster to deploy into: a kubeconfig and its context. */
const KUBE_OPTIONS = {
  kubeconfig: { flags: '--kubeconfig <file>', description: 'kubeconfig (default: KUBECONFIG, then ~/.kube/config)' },
  context: { flags: '--context <name>', description: 'kubeconfig context' },
} as const satisfies OptionTable;

const DEPLOY_OPTIONS = {
  namespace: {
    flags: '--namespace <ns>',
    description: 'namespace for the agents and their Secrets',
    default: DEFAULT_AGENT_NAMESPACE,
  },
  nodes: {
    flags: '--nodes <names>',
    description: "issue agent certificates for these nodes (default: the cluster's nodes now)",
  },
  image: { flags: '--image <image>', description: 'Linux agent image' },
  windowsImage: { flags: '--windows-image <image>', description: 'Windows HostProcess agent image' },
  windows: { flags: '--windows', description: 'also deploy the Windows HostProcess DaemonSet' },
  port: { flags: '--port <port>', description: 'agent port on every node', default: String(DEFAULT_AGENT_PORT) },
  dryRun: { flags: '--dry-run', description: 'print the manifests instead of applying them' },
  output: { flags: '-o, --output <format>', description: 'with --dry-run: yaml', default: 'yaml' },
  timeout: { flags: '--timeout <seconds>', description: 'how long to wait for the rollout', default: '300' },
  ...KUBE_OPTIONS,
} as const satisfies OptionTable;

type DeployFlags = FlagsOf<typeof DEPLOY_OPTIONS>;

const CLEANUP_OPTIONS = {
  namespace: {
    flags: '--namespace <ns>',
    description: 'namespace the agents were deployed to',
    default: DEFAULT_AGENT_NAMESPACE,
  },
  ...KUBE_OPTIONS,
} as const satisfies OptionTable;

export async function runDeploy(flags: DeployFlags, ctx: CliContext): Promise<number> {
  const { assertNamespace } = await import('../cluster/deploy.js');
  const { manifests, DEFAULT_IMAGE, DEFAULT_WINDOWS_IMAGE } = await import('../cluster/manifests.js');
  const namespace = assertNamespace(flags.namespace);
  const port = parseIntInRange(flags.port, '--port', 1, 65535);
  const timeoutS = parseIntInRange(flags.timeout, '--timeout', 1, 3600);
  if (flags.output !== undefined && flags.output !== 'yaml')
    throw badFlag('--output', flags.output, 'yaml (with --dry-run)');
  // One agent certificate per node, naming that node: from --nodes, else the cluster's nodes now.
  const nodes = await nodesToCertify(flags);
  const { generateCertificates } = await import('../tls/certs.js');
  const certs = await generateCertificates(nodes, `cnspect ${namespace} CA`);
  ctx.err.write(
    `deploy: issued agent certificates for ${nodes.length} node(s): ${nodes.map((n) => n.name).join(', ')}\n`,
  );
  const objs = manifests({
    namespace,
    image: flags.image ?? DEFAULT_IMAGE,
    windowsImage: flags.windowsImage ?? DEFAULT_WINDOWS_IMAGE,
    port,
    windows: flags.windows ?? false,
    certs,
  });
  if (flags.dryRun) {
    ctx.out.write(objs.map((o) => stringify(o)).join('---\n'));
    return 0;
  }
  const { loadKubeConfig } = await import('../cluster/kube.js');
  const { applyManifests } = await import('../cluster/deploy.js');
  const kc = loadKubeConfig({ kubeconfig: flags.kubeconfig, context: flags.context });
  const r = await applyManifests(kc, objs, (l) => ctx.err.write(`deploy: ${l}\n`), timeoutS * 1000);
  ctx.out.write(
    `${r.created
      .map((c) => `created ${c}`)
      .concat(r.unchanged.map((u) => `unchanged ${u}`))
      .join('\n')}\n`,
  );
  ctx.err.write(
    `agents ready on ${r.readyNodes.length} node(s): ` +
      `${r.readyNodes.join(', ') || 'none'}${r.notReady.length ? `; not ready: ${r.notReady.join(', ')}` : ''}\n`,
  );
  return r.notReady.length ? 4 : 0;
}

async function nodesToCertify(flags: DeployFlags): Promise<Array<{ name: string; hosts: string[] }>> {
  if (flags.nodes !== undefined) {
    const names = splitList([flags.nodes], '--nodes');
    if (names.some((n) => !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(n)))
      throw badFlag('--nodes', flags.nodes, 'comma-separated Kubernetes node names, no empty items');
    return names.map((name) => ({ name, hosts: [] }));
  }
  const { inventoryFromCluster, kubeconfigAvailable } = await import('../cluster/kube.js');
  if (!kubeconfigAvailable(flags)) {
    throw new CnspectError(
      'CNSPECT_KUBECONFIG',
      "deploy issues one agent certificate per node: it needs the cluster's nodes (a kubeconfig) or --nodes N1,N2",
      { hint: 'with --dry-run and no cluster, name the nodes: --nodes node1,node2' },
    );
  }
  const inv = await inventoryFromCluster({
    kubeconfig: flags.kubeconfig,
    context: flags.context,
    skipClientSecret: true,
  });
  return inv.nodes.map((n) => ({ name: n.name, hosts: [n.address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')] }));
}

export async function runCleanup(
  flags: { namespace: string; kubeconfig?: string; context?: string },
  ctx: CliContext,
): Promise<number> {
  const { assertNamespace, cleanup } = await import('../cluster/deploy.js');
  const { loadKubeConfig } = await import('../cluster/kube.js');
  const kc = loadKubeConfig({ kubeconfig: flags.kubeconfig, context: flags.context });
  const removed = await cleanup(kc, assertNamespace(flags.namespace), (l) => ctx.err.write(`cleanup: ${l}\n`));
  if (removed.length) ctx.out.write(`${removed.map((r) => `deleted ${r}`).join('\n')}\n`);
  return 0;
}

export function deployCommands(ctx: CliContext, setExit: (code: number) => void): Command[] {
  const deploy = withOptions(
    new Command('deploy').summary('install the agents (mTLS material, RBAC, DaemonSets) into the cluster'),
    DEPLOY_OPTIONS,
  ).action(async (flags: DeployFlags) => {
    setExit(await runDeploy(flags, ctx));
  });
  const cleanupCmd = withOptions(
    new Command('cleanup').summary('remove everything cnspect created in the cluster'),
    CLEANUP_OPTIONS,
  ).action(async (flags: FlagsOf<typeof CLEANUP_OPTIONS>) => {
    setExit(await runCleanup(flags, ctx));
  });
  return [deploy, cleanupCmd];
}
