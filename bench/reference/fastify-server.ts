/**
 * The HTTP reference: a bare Fastify server on 127.0.0.1 that does no work of its own.
 * GET /api/tasks/:id answers the bytes that the daemon answered for the measured task, as a
 * constant with the same content-type; POST /api/tasks parses the JSON body as Fastify does
 * and answers 201 with the daemon's answer to a submit, with the new id in it, storing
 * nothing. Run as its own process: `fastify-server.js ANSWERS.json`; it prints its port,
 * and ends on SIGTERM or after 10 minutes.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

/** What the daemon answered, fetched by bare-fastify.ts before the start. */
export interface ReferenceAnswers {
  get: { body: string; contentType: string };
  submit: { template: Record<string, unknown>; contentType: string };
}

const answers = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ReferenceAnswers;
const getBody = Buffer.from(answers.get.body);

const app = Fastify({ logger: false });
app.get('/api/tasks/:id', (_request, reply) => {
  void reply.header('content-type', answers.get.contentType).send(getBody);
});
app.post('/api/tasks', (request, reply) => {
  const { id } = request.body as { id: string };
  void reply.code(201).header('content-type', answers.submit.contentType).send({ ...answers.submit.template, id });
});

const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${new URL(address).port}\n`);
const close = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', close);
setTimeout(close, 10 * 60_000).unref();
