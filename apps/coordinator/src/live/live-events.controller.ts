import { Controller, Get, Inject, NotFoundException, Param, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import { COORDINATOR_STORE, CoordinatorStore } from '../persistence/repositories';
import { AdminRequest } from '../auth/admin-request';
import { RunIdParamDto } from '../runs/dto/run-params.dto';
import { LiveMessage } from './live-entities';
import { LiveEventsService } from './live-events.service';

/** A comment line this often keeps proxies and browsers from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

const STREAM_DESCRIPTION =
  'text/event-stream: event `snapshot` {entities: [{kind, key, value}]} first, then `change` {upserts, removals} ' +
  'whenever something changed, `error` {message} when the store could not be read. Authenticated like every route ' +
  '(Authorization header, so read it with fetch(), not EventSource).';

/**
 * Server-sent events for the dashboard: one long response per watched topic, fed by
 * LiveEventsService. Read-only, so observers may listen.
 */
@ApiTags('live')
@ApiBearerAuth()
@Controller('events')
export class LiveEventsController {
  constructor(
    private readonly live: LiveEventsService,
    @Inject(COORDINATOR_STORE) private readonly store: CoordinatorStore,
  ) {}

  @Get('runs')
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: `the runs list. ${STREAM_DESCRIPTION}` })
  runs(@Req() request: AdminRequest, @Res() response: ServerResponse): void {
    this.stream('runs', request, response);
  }

  @Get('sites')
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: `enrolled sites and their connections. ${STREAM_DESCRIPTION}` })
  sites(@Req() request: AdminRequest, @Res() response: ServerResponse): void {
    this.stream('sites', request, response);
  }

  @Get('runs/:id')
  @ApiProduces('text/event-stream')
  @ApiOkResponse({
    description: `one run: run, rounds, tasks, updates, metrics, evaluations. ${STREAM_DESCRIPTION}`,
  })
  async run(
    @Param() { id }: RunIdParamDto,
    @Req() request: AdminRequest,
    @Res() response: ServerResponse,
  ): Promise<void> {
    if (!(await this.store.runs.get(id))) throw new NotFoundException(`run "${id}" does not exist`);
    this.stream(`run:${id}`, request, response);
  }

  private stream(topic: string, request: AdminRequest, response: ServerResponse): void {
    this.live.assertCapacity();
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx and similar proxies would buffer the stream otherwise.
      'x-accel-buffering': 'no',
      // A stream is the connection's last response: when it ends, the socket goes too (fast shutdown).
      connection: 'close',
    });
    response.write(`retry: 3000\n\n`);
    const keepalive = setInterval(() => response.write(': keepalive\n\n'), KEEPALIVE_MS);
    // The connection is the stream's (`connection: close`): when the stream ends, the socket goes,
    // so nothing is left for the server's close to wait for.
    const end = () => {
      clearInterval(keepalive);
      if (!response.writableEnded) response.end(() => request.socket.destroy());
    };
    const send = (message: LiveMessage) => {
      if (!response.writableEnded)
        response.write(`event: ${message.type}\ndata: ${JSON.stringify(message)}\n\n`);
    };
    const unsubscribe = this.live.subscribe(topic, send, end);
    response.once('close', () => {
      unsubscribe();
      end();
    });
  }
}
