/**
 * A TCP link between a daemon and its database that a test can cut and restore: the daemon
 * is given the link's port instead of the server's, and while the link is cut every
 * connection through it is closed and new ones are refused, as when the database host goes
 * away. Restored, it listens again on the same port.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpLink {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** The port the link listens on (fixed once opened, reused when restored). */
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Listens (on a free port the first time, on the same port after a cut). */
  async open(): Promise<this> {
    const server = createServer((client) => {
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : this.port;
    this.server = server;
    return this;
  }

  /** Closes every connection through the link and refuses new ones until open() again. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
