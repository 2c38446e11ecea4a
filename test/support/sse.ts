/** One server-sent event: its `event:` name and parsed `data:` JSON. */
export interface ServerEvent {
  event: string;
  data: unknown;
}

/**
 * Reads a text/event-stream response event by event (comments and `retry:` lines skipped), for
 * e2e tests of the coordinator's /events streams.
 */
export class EventStreamReader {
  private buffer = '';
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();

  /** `abort` is the fetch's controller: cancelling aborts it, which closes the connection. */
  constructor(
    readonly response: Response,
    private readonly abort?: AbortController,
  ) {
    this.reader = response.body!.getReader();
  }

  /** GET `url` with a bearer token, as the dashboard does (EventSource cannot send the header). */
  static async open(url: string, token: string): Promise<EventStreamReader> {
    const abort = new AbortController();
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${token}` },
      signal: abort.signal,
    });
    return new EventStreamReader(response, abort);
  }

  /** The next event, or fails after `timeoutMs`. */
  async next(timeoutMs = 10_000): Promise<ServerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const lines = block.split('\n');
        const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
        const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
        if (event && data !== undefined) return { event, data: JSON.parse(data) };
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no server event within ${timeoutMs} ms`);
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<never>((_r, reject) =>
          setTimeout(() => reject(new Error(`no server event within ${timeoutMs} ms`)), left),
        ),
      ]);
      if (chunk.done) throw new Error('the event stream ended');
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
    }
  }

  async cancel(): Promise<void> {
    this.abort?.abort();
    await this.reader.cancel().catch(() => undefined);
  }
}
