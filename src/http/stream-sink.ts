import type { ServerResponse } from "node:http";
import type { SinkEvents, StreamSink } from "../chat/event-stream.js";

/**
 * A sink on node:http's response, written directly (the server's way): no web stream and no
 * reader loop per connection. Room is the socket's drain; the client is gone when it closes.
 */
export function responseSink(response: ServerResponse): (events: SinkEvents) => StreamSink {
  return (events) => {
    response.on("drain", () => events.room());
    response.on("close", () => events.gone());
    response.on("error", () => events.gone());
    return {
      write: (bytes) => void response.write(bytes),
      queuedBytes: () => response.writableLength,
      end: () => response.end(),
      // The reason is in the stream's close report; the client just sees the connection end.
      abort: () => response.destroy(),
    };
  };
}

/** A sink read as a web ReadableStream (for a fetch-style caller: app.request() in-process). */
export function webStreamSink(bufferBytes: number): {
  readable: ReadableStream<Uint8Array>;
  connect: (events: SinkEvents) => StreamSink;
} {
  let events: SinkEvents | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>(
    {
      start: (streamController) => void (controller = streamController),
      pull: () => events?.room(),
      cancel: () => events?.gone(),
    },
    { highWaterMark: bufferBytes, size: (chunk) => chunk.byteLength },
  );
  const connect = (listener: SinkEvents): StreamSink => {
    events = listener;
    return {
      write: (bytes) => controller.enqueue(bytes),
      queuedBytes: () => bufferBytes - (controller.desiredSize ?? 0),
      end: () => controller.close(),
      abort: (error) => controller.error(error),
    };
  };
  return { readable, connect };
}
