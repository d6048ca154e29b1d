/**
 * The ceiling for the throughput figures: a bare node:http server on 127.0.0.1 that answers
 * every request with a constant small JSON body (201 to POST, after reading the body).
 * Run as its own process; it prints its port, and ends on SIGTERM or after 5 minutes.
 */
import { createServer } from 'node:http';

const body = JSON.stringify({ id: 'hello', type: 'delay', time: '1000h', script: 'echo never', status: 'ToBeExecuted', version: 1, results: [] });
const server = createServer((request, response) => {
  const answer = () => {
    response.writeHead(request.method === 'POST' ? 201 : 200, { 'content-type': 'application/json; charset=utf-8' });
    response.end(body);
  };
  request.resume();
  request.once('end', answer);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address ? address.port : 0}\n`);
});
const close = () => server.close(() => process.exit(0));
process.once('SIGTERM', close);
setTimeout(close, 5 * 60_000).unref();
