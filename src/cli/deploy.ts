// `cnspect deploy` and `cnspect cleanup`.
import { Command } from 'commander';
import { DEFAULT_AGENT_PORT } from '../contract/agent-api.js';
import { stringify } from 'yaml';
import { badFlag, CnspectError, splitList } from '../errors.js';
import type { CliContext } from './context.js';
import { parseIntInRange } from './flags.js';

interface DeployFlags {
  nodes?: string;
  namespace: string;
  image?: string;
  windowsImage?: string;
  port: string;
  windows?: boolean;
  dryRun?: boolean;
  output?: string;
  kubeconfig?: string;
  context?: string;
  timeout: string;
}

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
  const deploy = new Command('deploy')
    .summary('install the agents (mTLS material, RBAC, DaemonSets) into the cluster')
    .option('--namespace <ns>', 'namespace for the agents and their Secrets', 'cnspect-system')
    .option('--nodes <names>', "issue agent certificates for these nodes (default: the cluster's nodes now)")
    .option('--image <image>', 'Linux agent image')
    .option('--windows-image <image>', 'Windows HostProcess agent image')
    .option('--windows', 'also deploy the Windows HostProcess DaemonSet')
    .option('--port <port>', 'agent port on every node', String(DEFAULT_AGENT_PORT))
    .option('--dry-run', 'print the manifests instead of applying them')
    .option('-o, --output <format>', 'with --dry-run: yaml', 'yaml')
    .option('--timeout <seconds>', 'how long to wait for the rollout', '300')
    .option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .action(async (flags: DeployFlags) => {
      setExit(await runDeploy(flags, ctx));
    });
  const cleanupCmd = new Command('cleanup')
    .summary('remove everything cnspect created in the cluster')
    .option('--namespace <ns>', 'namespace the agents were deployed to', 'cnspect-system')
    .option('--kubeconfig <file>', 'kubeconfig')
    .option('--context <name>', 'kubeconfig context')
    .action(async (flags: { namespace: string; kubeconfig?: string; context?: string }) => {
      setExit(await runCleanup(flags, ctx));
    });
  return [deploy, cleanupCmd];
}
