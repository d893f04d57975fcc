// What a frontend writes against the generated types (`make client-check` type-checks it with
// tsc --strict): if an operationId, parameter, enum or schema name changes in a way clients
// notice, this file stops compiling.
import type { components, operations, paths } from "./generated/api";

type Schemas = components["schemas"];
type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;

export type PlaceOrderBody = Json<paths["/api/v1/broker/orders"]["post"]["requestBody"]>;
export type PlaceOrderOk = Json<operations["placeOrder"]["responses"][200]>;
export type BarsQuery = operations["getBars"]["parameters"]["query"];

const order: PlaceOrderBody = { symbol: "AAPL", type: 1, side: 1, qty: 100, limitPrice: 150.0 };
const placed: PlaceOrderOk = { orderId: "ORDER-1" };
const sides: Schemas["Side"][] = [1, -1];
// @ts-expect-error Side is 1 | -1
const badSide: Schemas["Side"] = 2;
const query: BarsQuery = { symbol: "AAPL", resolution: "1D", from_time: 0, to_time: 1000 };
// @ts-expect-error resolution is one of the documented values
const badQuery: BarsQuery = { symbol: "AAPL", resolution: "2H", from_time: 0, to_time: 1 };

export async function getBars(base: string, q: BarsQuery): Promise<Schemas["GetBarsResponse"]> {
  const params = new URLSearchParams({
    symbol: q.symbol,
    resolution: q.resolution,
    from_time: String(q.from_time),
    to_time: String(q.to_time),
  });
  if (q.count_back !== undefined) params.set("count_back", String(q.count_back));
  const response = await fetch(`${base}/api/v1/datafeed/bars?${params}`);
  if (response.status === 422) {
    const error = (await response.json()) as Schemas["HTTPValidationError"];
    throw new Error(error.detail.map((item) => item.msg).join("; "));
  }
  return (await response.json()) as Schemas["GetBarsResponse"];
}

export function lastClose(bars: Schemas["GetBarsResponse"]): number | undefined {
  return bars.bars.at(-1)?.close;
}

export function describe(order: Schemas["PlacedOrder"]): string {
  const status: Record<Schemas["OrderStatus"], string> = {
    1: "canceled", 2: "filled", 3: "inactive", 4: "placing", 5: "rejected", 6: "working",
  };
  return `${order.id} ${order.symbol} ${order.qty} ${status[order.status]}`;
}

export const examples = { order, placed, sides, badSide, query, badQuery };
