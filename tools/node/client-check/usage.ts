// What a frontend writes against the openapi-typescript types of the reference backend's
// document. `make client-check` and tests/test_generated_clients.py type-check it (tsc --strict)
// against the types generated from OUR document: if an operationId, parameter, enum or schema
// name that the reference's types have changes in a way clients notice, this file stops
// compiling. (It compiles against the reference's own types too.)
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
// resolution is any string and count_back may be null, as the reference types them
const resolution: string = "D";
const nullCount: BarsQuery = { ...query, resolution, count_back: null };

export async function getBars(base: string, q: BarsQuery): Promise<Schemas["GetBarsResponse"]> {
  const params = new URLSearchParams({
    symbol: q.symbol,
    resolution: q.resolution,
    from_time: String(q.from_time),
    to_time: String(q.to_time),
  });
  if (q.count_back !== undefined && q.count_back !== null) {
    params.set("count_back", String(q.count_back));
  }
  const response = await fetch(`${base}/api/v1/datafeed/bars?${params}`);
  if (response.status === 422) {
    const error = (await response.json()) as Schemas["HTTPValidationError"];
    throw new Error((error.detail ?? []).map((item) => item.msg).join("; "));
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

export const examples = { order, placed, sides, badSide, query, nullCount };

// Every component and operation name of the reference's document (the names its generated
// clients use): a missing one fails the type-check.
type ReferenceComponent =
  | "APIMetadata"
  | "APIVersion"
  | "AccountMetainfo"
  | "Bar"
  | "Body_editPositionBrackets"
  | "Brackets"
  | "DatafeedConfiguration"
  | "DatafeedHealthResponse"
  | "DatafeedSymbolType"
  | "Exchange"
  | "Execution"
  | "GetBarsResponse"
  | "GetQuotesRequest"
  | "HTTPValidationError"
  | "HealthResponse"
  | "LeverageInfo"
  | "LeveragePreviewResult"
  | "LeverageSetParams"
  | "LeverageSetResult"
  | "OrderPreviewResult"
  | "OrderPreviewSection"
  | "OrderPreviewSectionRow"
  | "OrderStatus"
  | "OrderType"
  | "PlaceOrderResult"
  | "PlacedOrder"
  | "Position"
  | "PreOrder"
  | "QuoteData"
  | "QuoteValues"
  | "SearchSymbolResultItem"
  | "Side"
  | "StopType"
  | "SuccessResponse"
  | "SymbolInfo"
  | "ValidationError"
  | "VersionInfo";
type ReferenceOperation =
  | "cancelOrder"
  | "closePosition"
  | "datafeedHealthCheck"
  | "editPositionBrackets"
  | "getAPIVersions"
  | "getAccountInfo"
  | "getBars"
  | "getConfig"
  | "getCurrentAPIVersion"
  | "getExecutions"
  | "getHealthStatus"
  | "getOrders"
  | "getPositions"
  | "getQuotes"
  | "leverageInfo"
  | "modifyOrder"
  | "placeOrder"
  | "previewLeverage"
  | "previewOrder"
  | "resolveSymbol"
  | "root__get"
  | "searchSymbols"
  | "setLeverage";
export type ReferenceComponents = { [K in ReferenceComponent]: Schemas[K] };
export type ReferenceOperations = { [K in ReferenceOperation]: operations[K] };
