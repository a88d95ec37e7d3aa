import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestListener } from 'node:http';
import type { Config } from '../config/config-schema.js';

/** The API's listening server and its shutdown. */
export interface HttpService {
  server: http.Server;
  port: number;
  /**
   * Stops accepting, closes idle keep-alive connections at once, lets requests in flight finish
   * until `deadline` (epoch ms), then closes every connection left (issue 25 §2: a held-open
   * connection must not keep the process alive).
   */
  close(deadline?: number): Promise<void>;
}

/**
 * Listens with bounded connections (issue 25 §2): `headersTimeout`, `requestTimeout` (the whole
 * request, body included, so a slow-body client is cut off), `keepAliveTimeout` and
 * `maxConnections` from `config.server`.
 */
export async function serveHttp(
  app: RequestListener,
  config: Pick<Config, 'port' | 'host' | 'server'>,
): Promise<HttpService> {
  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs, maxConnections, shutdownGraceMs } = config.server;
  const server = http.createServer(
    {
      headersTimeout: Math.min(headersTimeoutMs, requestTimeoutMs),
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      // How often Node checks the two timeouts above (default 30 s, which would let a slow body outlive its timeout by that much).
      connectionsCheckingInterval: Math.min(1000, headersTimeoutMs),
    },
    app,
  );
  server.maxConnections = maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: (deadline = Date.now() + shutdownGraceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(
          () => {
            server.closeAllConnections();
          },
          Math.max(0, deadline - Date.now()),
        );
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
