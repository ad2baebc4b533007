// The agent contract: what a client can ask of an agent. The in-process agent (capture local) and
// the gRPC client (cluster/agent-client.ts) both implement it, so commands and the fleet never
// depend on the agent implementation.
import type {
  CaptureEvent,
  CaptureRequest,
  CountersResponse,
  DatapathResponse,
  DatapathSection,
  InfoResponse,
  PodRef,
  PortCountersResponse,
} from '../gen/cnspect/v1/agent.js';

/** The agents' port on every node unless said otherwise. */
export const DEFAULT_AGENT_PORT = 50051;
/** The namespace `cnspect deploy` installs the agents into. */
export const DEFAULT_AGENT_NAMESPACE = 'cnspect-system';

/** What a client can ask of an agent, in-process or over gRPC. */
export interface AgentApi {
  info(): Promise<InfoResponse>;
  /** Streams a session's events; aborting `signal` (or leaving the loop) stops the session. */
  capture(req: CaptureRequest, signal?: AbortSignal): AsyncIterable<CaptureEvent>;
  stopCapture(sessionId: string): Promise<boolean>;
  counters(sessionId?: string, includeHidden?: boolean): Promise<CountersResponse>;
  portCounters(pod: PodRef, detailed: boolean): Promise<PortCountersResponse>;
  datapath(section: DatapathSection): Promise<DatapathResponse>;
  close(): Promise<void>;
}
