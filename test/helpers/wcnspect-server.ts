// An in-repo server implementing wcnspect's published proto (wcnspect.captures, wcnspect.hcn),
// answering like wcnspect does: one text line per CaptureResponse (here, a real published pktmon
// real-time output), plain text counters, HCN JSON bytes. It records what it was asked.
import * as grpc from '@grpc/grpc-js';
import { type CaptureRequest, CaptureServiceService } from '../../src/gen/wcnspect/captures.js';
import { type HCNRequest, HCNServiceService } from '../../src/gen/wcnspect/hcn.js';

export interface WcnspectDouble {
  address: string;
  captures: CaptureRequest[];
  hcn: HCNRequest[];
  vfp: Array<{ pod: string; verbose: boolean }>;
  close(): Promise<void>;
}

export async function startWcnspectServer(lines: string[], hcnJson: string): Promise<WcnspectDouble> {
  const d: Partial<WcnspectDouble> = { captures: [], hcn: [], vfp: [] };
  let stop: (() => void) | undefined;
  const now = (): { seconds: bigint; nanos: number } => ({ seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 });
  const server = new grpc.Server();
  server.addService(CaptureServiceService, {
    startCapture: (call: grpc.ServerWritableStream<CaptureRequest, unknown>) => {
      d.captures!.push(call.request);
      for (const result of lines) call.write({ result, timestamp: now() });
      // Like wcnspect: the stream stays open until the duration ends or StopCapture cancels it.
      const end = (): void => {
        if (!call.writableEnded) call.end();
      };
      stop = end;
      if (call.request.duration > 0) setTimeout(end, call.request.duration * 1000);
      call.on('cancelled', end);
    },
    stopCapture: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      stop?.();
      cb(null, { result: 'Packet monitor stopped.', timestamp: now() });
    },
    getCounters: (call: grpc.ServerUnaryCall<{ includeHidden: boolean }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      cb(null, { result: `counters (include hidden: ${call.request.includeHidden})`, timestamp: now() });
    },
    getVfpCounters: (
      call: grpc.ServerUnaryCall<{ pod: string; verbose: boolean }, unknown>,
      cb: grpc.sendUnaryData<unknown>,
    ) => {
      d.vfp!.push({ pod: call.request.pod, verbose: call.request.verbose });
      cb(null, { result: `VFP counters of ${call.request.pod}`, timestamp: now() });
    },
  } as unknown as grpc.UntypedServiceImplementation);
  server.addService(HCNServiceService, {
    getHcnLogs: (call: grpc.ServerUnaryCall<HCNRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      d.hcn!.push(call.request);
      cb(null, { hcnResult: Buffer.from(hcnJson) });
    },
  } as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  d.address = `127.0.0.1:${port}`;
  d.close = () => new Promise<void>((r) => server.tryShutdown(() => r()));
  return d as WcnspectDouble;
}
