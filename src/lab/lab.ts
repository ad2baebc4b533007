// Builds, inspects and removes a lab: node and pod namespaces wired as planned, an mTLS agent
// per node listening on the node's underlay address, and an inventory file for the CLI.
// Teardown works from the lab's name alone, so it also cleans up after a crash or a killed `up`.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { CnspectError, requireRoot } from '../errors.js';
import { run } from '../process/child.js';
import { alive, startDetached, terminate } from '../process/detached.js';
import { LOCAL_SOCKET_DIR } from '../contract/local-socket.js';
import { type LabOptions, type LabPlan, isLabNetns, labSetupCommands, planLab } from './plan.js';

export const LAB_DIR = join(LOCAL_SOCKET_DIR, 'lab');
export const AGENT_START_TIMEOUT_MS = 20_000;
const BIN = fileURLToPath(new URL('../../../bin/cnspect.js', import.meta.url));

export interface LabState {
  plan: LabPlan;
  dir: string;
  inventoryPath: string;
}

export interface LabStatus {
  name: string;
  dir: string;
  inventoryPath: string;
  network: string;
  nodes: Array<{ name: string; address: string; agentPid: number | undefined; agentRunning: boolean }>;
  pods: number;
  namespacesPresent: number;
  namespacesExpected: number;
}

const labDir = (name: string): string => join(LAB_DIR, name);

function listNetns(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

function readPid(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

export async function labUp(
  options: LabOptions,
  progress: (line: string) => void = () => undefined,
): Promise<LabState> {
  requireRoot('lab up');
  const plan = planLab(options);
  const dir = labDir(plan.prefix);
  const inventoryPath = join(dir, 'inventory.yaml');
  const status = labStatus(plan.prefix);
  if (
    status &&
    JSON.stringify(JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')).options) === JSON.stringify(plan.options) &&
    status.namespacesPresent === status.namespacesExpected &&
    status.nodes.every((n) => n.agentRunning)
  ) {
    progress(`lab ${plan.prefix} is already up`);
    return { plan, dir, inventoryPath };
  }
  if (status || listNetns().some((n) => isLabNetns(plan.prefix, n))) {
    progress(`removing the previous or partial lab ${plan.prefix}`);
    await labDown(plan.prefix);
  }
  mkdirSync(join(dir, 'agents'), { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'lab.json'), JSON.stringify({ options: plan.options }, null, 2));
  try {
    const commands = labSetupCommands(plan);
    progress(
      `creating ${plan.nodes.length} nodes and ${plan.pods.length} pods (${plan.options.network}, ` +
        `${commands.length} commands)`,
    );
    for (const argv of commands) await run(argv, 'build the lab');
    progress('issuing mTLS certificates');
    const { initNodeCertificates } = await import('../tls/certs.js');
    await initNodeCertificates(
      join(dir, 'tls'),
      plan.nodes.map((n) => ({ name: n.name, hosts: [n.underlayIp] })),
      `cnspect lab ${plan.prefix} CA`,
    );
    progress('starting one agent per node');
    for (const n of plan.nodes) startAgent(dir, n.netns, n.name, n.agentAddress);
    await waitForAgents(dir, plan);
    writeFileSync(inventoryPath, inventoryYaml(plan));
    return { plan, dir, inventoryPath };
  } catch (err) {
    await labDown(plan.prefix);
    throw err;
  }
}

function startAgent(dir: string, netns: string, node: string, address: string): void {
  const argv = [
    'ip',
    'netns',
    'exec',
    netns,
    process.execPath,
    BIN,
    'agent',
    '--listen',
    address,
    '--tls-dir',
    join(dir, 'tls'),
    '--node-name',
    node,
  ];
  writeFileSync(join(dir, 'agents', `${node}.pid`), String(startDetached(argv, join(dir, 'agents', `${node}.log`))));
}

async function waitForAgents(dir: string, plan: LabPlan): Promise<void> {
  const deadline = Date.now() + AGENT_START_TIMEOUT_MS;
  for (const n of plan.nodes) {
    const logPath = join(dir, 'agents', `${n.name}.log`);
    for (;;) {
      const log = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
      if (log.includes('listening on')) break;
      if (!alive(readPid(join(dir, 'agents', `${n.name}.pid`)))) {
        throw new CnspectError(
          'CNSPECT_TOOL_FAILED',
          `the agent of ${n.name} exited at start: ${log.trim().split('\n').slice(-3).join(' | ')}`,
        );
      }
      if (Date.now() > deadline)
        throw new CnspectError(
          'CNSPECT_TOOL_FAILED',
          `the agent of ${n.name} did not start within ${AGENT_START_TIMEOUT_MS} ms`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export function inventoryYaml(plan: LabPlan): string {
  const doc = {
    tls: { ca: 'tls/ca.crt', cert: 'tls/client.crt', key: 'tls/client.key' },
    nodes: plan.nodes.map((n) => ({ name: n.name, address: n.agentAddress, os: 'linux' })),
    pods: plan.pods.map((p) => ({
      name: p.name,
      namespace: p.namespace,
      node: p.node,
      ips: [p.ip],
      labels: { app: p.routed ? 'routed' : 'web', lab: plan.prefix },
    })),
  };
  return `# cnspect lab ${plan.prefix} (${plan.options.network}): use with --inventory\n${stringify(doc)}`;
}

/** Removes every namespace, interface, process and file of lab `name`; returns what it removed. */
export async function labDown(name: string): Promise<string[]> {
  const removed: string[] = [];
  const namespaces = listNetns().filter((n) => isLabNetns(name, n));
  const inodes = new Set(
    namespaces.map((n) => {
      try {
        return statSync(`/run/netns/${n}`).ino;
      } catch {
        return -1;
      }
    }),
  );
  // Every process living in one of the lab's namespaces (agents, their tcpdumps, test traffic).
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (inodes.has(statSync(`/proc/${d}/ns/net`).ino)) pids.push(Number(d));
    } catch {
      /* gone */
    }
  }
  await terminate(pids);
  for (const pid of pids) removed.push(`process ${pid}`);
  for (const ns of namespaces) {
    await run(['ip', 'netns', 'del', ns], 'remove a lab namespace').catch(() => undefined);
    removed.push(`namespace ${ns}`);
  }
  if (existsSync(`/sys/class/net/${name}-host`)) {
    await run(['ip', 'link', 'del', `${name}-host`], 'remove the lab host interface').catch(() => undefined);
    removed.push(`interface ${name}-host`);
  }
  if (existsSync(labDir(name))) {
    rmSync(labDir(name), { recursive: true, force: true });
    removed.push(`directory ${labDir(name)}`);
  }
  return removed;
}

export function labNames(): string[] {
  try {
    return readdirSync(LAB_DIR);
  } catch {
    return [];
  }
}

export function labStatus(name: string): LabStatus | undefined {
  const dir = labDir(name);
  if (!existsSync(join(dir, 'lab.json'))) return undefined;
  const plan = planLab((JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as { options: LabOptions }).options);
  const present = new Set(listNetns());
  const expected = [plan.switchNetns, ...plan.nodes.map((n) => n.netns), ...plan.pods.map((p) => p.netns)];
  return {
    name,
    dir,
    inventoryPath: join(dir, 'inventory.yaml'),
    network: plan.options.network,
    pods: plan.pods.length,
    namespacesExpected: expected.length,
    namespacesPresent: expected.filter((n) => present.has(n)).length,
    nodes: plan.nodes.map((n) => {
      const pid = readPid(join(dir, 'agents', `${n.name}.pid`));
      return { name: n.name, address: n.agentAddress, agentPid: pid, agentRunning: alive(pid) };
    }),
  };
}
