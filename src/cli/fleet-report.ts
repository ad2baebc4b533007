// How a command tells the user what the fan-out did: its notices, and one line and one exit
// status for the nodes that failed (each was already reported by name as it failed).
import type { FleetFailure, FleetNotice } from '../fleet/fan-out.js';

export function fleetNoticeText(n: FleetNotice, what: string): string {
  if (n.kind === 'stopping') {
    const plural = n.running.length === 1 ? '' : 's';
    return `stopping ${n.running.length} ${what}${plural}… (Ctrl+C again to quit at once)\n`;
  }
  return `quitting at once: final counts were not collected from ${n.labels.join(', ')}\n`;
}

export function fleetExit(failure: FleetFailure | undefined, err: NodeJS.WritableStream): number {
  if (!failure) return 0;
  if (failure.worthALine) err.write(`CNSPECT_NODE_FAILED: ${failure.message}\n`);
  return failure.exitStatus;
}

/** Reports a node's failure the moment it happens. */
export const nodeFailedWriter =
  (err: NodeJS.WritableStream, describe: (e: unknown) => string) =>
  (label: string, e: unknown): void => {
    err.write(`${label}: FAILED ${describe(e)}\n`);
  };
