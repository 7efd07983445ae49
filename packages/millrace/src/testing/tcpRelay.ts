/**
 * A TCP relay for outage tests: a local port forwarded to a real service; `cut()` closes the port and
 * the open connections (clients see the service go away), `restore()` listens on the same port again.
 * The service itself keeps running for everything else that uses it.
 */
import * as net from 'node:net';

export interface TcpRelay {
  /** The local port clients connect to (127.0.0.1). */
  readonly port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
}

export async function tcpRelay(targetHost: string, targetPort: number): Promise<TcpRelay> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    cut: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    restore: () => listen(port),
  };
}
