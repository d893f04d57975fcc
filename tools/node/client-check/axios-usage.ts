// Code a frontend writes against the openapi-generator `typescript-axios` client of the reference
// backend's document (the reference frontend builds on `V1Api`). tests/test_generated_clients.py
// generates that client from OUR document (one api.ts, and the separate api/ + models/ layout)
// and type-checks this file against it with tsc --strict: a name, member or parameter type
// that the reference's client has and ours lacks fails the build. "@client" is the generated
// index.ts (a tsconfig `paths` entry of the test).
import globalAxios from "axios";
import {
  APIVersion,
  BrokerApi,
  BrokerApiAxiosParamCreator,
  BrokerApiFactory,
  BrokerApiFp,
  Configuration,
  DatafeedApi,
  DatafeedApiAxiosParamCreator,
  DatafeedApiFactory,
  DatafeedApiFp,
  HealthApi,
  HealthApiAxiosParamCreator,
  HealthApiFactory,
  HealthApiFp,
  OrderStatus,
  OrderType,
  QuoteDataSEnum,
  RootApi,
  RootApiAxiosParamCreator,
  RootApiFactory,
  RootApiFp,
  Side,
  StopType,
  SymbolInfoDataStatusEnum,
  V1Api,
  V1ApiAxiosParamCreator,
  V1ApiFactory,
  V1ApiFp,
  VersioningApi,
  VersioningApiAxiosParamCreator,
  VersioningApiFactory,
  VersioningApiFp,
} from "@client";
import type {
  APIMetadata,
  AccountMetainfo,
  Bar,
  BodyEditPositionBrackets,
  Brackets,
  DatafeedConfiguration,
  DatafeedHealthResponse,
  DatafeedSymbolType,
  Exchange,
  Execution,
  GetBarsResponse,
  GetQuotesRequest,
  HTTPValidationError,
  HealthResponse,
  LeverageInfo,
  LeveragePreviewResult,
  LeverageSetParams,
  LeverageSetResult,
  LocationInner,
  OrderPreviewResult,
  OrderPreviewSection,
  OrderPreviewSectionRow,
  PlaceOrderResult,
  PlacedOrder,
  Position,
  PreOrder,
  QuoteData,
  QuoteValues,
  SearchSymbolResultItem,
  SuccessResponse,
  SymbolInfo,
  V,
  ValidationError,
  VersionInfo,
} from "@client";

// Every model name of the reference's client (a missing export is TS2305).
export type ReferenceModels = [
  APIMetadata, AccountMetainfo, Bar, BodyEditPositionBrackets, Brackets, DatafeedConfiguration,
  DatafeedHealthResponse, DatafeedSymbolType, Exchange, Execution, GetBarsResponse,
  GetQuotesRequest, HTTPValidationError, HealthResponse, LeverageInfo, LeveragePreviewResult,
  LeverageSetParams, LeverageSetResult, LocationInner, OrderPreviewResult, OrderPreviewSection,
  OrderPreviewSectionRow, PlaceOrderResult, PlacedOrder, Position, PreOrder, QuoteData,
  QuoteValues, SearchSymbolResultItem, SuccessResponse, SymbolInfo, V, ValidationError,
  VersionInfo, APIVersion, OrderStatus, OrderType, QuoteDataSEnum, Side, StopType,
  SymbolInfoDataStatusEnum,
];

// Every API class and its functional forms.
export const apis = [
  BrokerApi, DatafeedApi, HealthApi, RootApi, V1Api, VersioningApi,
  BrokerApiAxiosParamCreator, DatafeedApiAxiosParamCreator, HealthApiAxiosParamCreator,
  RootApiAxiosParamCreator, V1ApiAxiosParamCreator, VersioningApiAxiosParamCreator,
  BrokerApiFactory, DatafeedApiFactory, HealthApiFactory, RootApiFactory, V1ApiFactory,
  VersioningApiFactory, BrokerApiFp, DatafeedApiFp, HealthApiFp, RootApiFp, V1ApiFp,
  VersioningApiFp,
] as const;

// Every enum member the reference's client has (integer enums: the generated names).
export const members = [
  Side.NUMBER_1, Side.NUMBER_MINUS_1,
  OrderType.NUMBER_1, OrderType.NUMBER_2, OrderType.NUMBER_3, OrderType.NUMBER_4,
  OrderStatus.NUMBER_1, OrderStatus.NUMBER_2, OrderStatus.NUMBER_3, OrderStatus.NUMBER_4,
  OrderStatus.NUMBER_5, OrderStatus.NUMBER_6,
  StopType.NUMBER_0, StopType.NUMBER_1, StopType.NUMBER_2,
  APIVersion.V1, APIVersion.V2,
  QuoteDataSEnum.Ok, QuoteDataSEnum.Error,
  SymbolInfoDataStatusEnum.Streaming, SymbolInfoDataStatusEnum.Endofday,
  SymbolInfoDataStatusEnum.DelayedStreaming,
] as const;

const api = new V1Api(new Configuration({ basePath: "" }), "", globalAxios);

// Request values typed as the reference's client types them.
const order: PreOrder = {
  symbol: "AAPL",
  type: OrderType.NUMBER_1,
  side: Side.NUMBER_1,
  qty: 10,
  limitPrice: 100,
  stopPrice: null,
  takeProfit: null,
  stopLoss: null,
  guaranteedStop: null,
  trailingStopPips: null,
  stopType: null,
};
const withStop: PreOrder = { ...order, stopType: StopType.NUMBER_0, stopLoss: 90 };
const brackets: BodyEditPositionBrackets = {
  brackets: { stopLoss: null, takeProfit: 300, guaranteedStop: null, trailingStopPips: null },
  customFields: {},
};
const leverage: LeverageSetParams = {
  symbol: "AAPL",
  orderType: OrderType.NUMBER_2,
  side: Side.NUMBER_MINUS_1,
  leverage: 2,
  customFields: null,
};
const quotes: GetQuotesRequest = { symbols: ["AAPL", "MSFT"] };
const customFields: object = { note: "from a TradingView dialog" };
const withObjectFields: LeverageSetParams = { ...leverage, customFields };
const resolution: string = "1D"; // any string, as the reference's client types it
const countBack: number | null = null;

// Every operation of the reference, with the reference's argument types.
export async function everyOperation(): Promise<void> {
  const bars: GetBarsResponse = (await api.getBars("AAPL", resolution, 0, 1000, countBack)).data;
  const last: Bar | undefined = bars.bars.at(-1);
  const close: number | undefined = last?.close;
  await api.getBars("AAPL", "D", 0, 1000);
  await api.getBars("AAPL", resolution, 0, 1000, 5);
  const config: DatafeedConfiguration = (await api.getConfig()).data;
  const exchanges: Exchange[] | undefined = config.exchanges;
  const found: SearchSymbolResultItem[] = (await api.searchSymbols("AA", "", "", 10)).data;
  const info: SymbolInfo = (await api.resolveSymbol("AAPL")).data;
  const status: SymbolInfoDataStatusEnum = info.data_status;
  const quoteList: QuoteData[] = (await api.getQuotes(quotes)).data;
  const firstQuote: QuoteData | undefined = quoteList[0];
  if (firstQuote !== undefined && firstQuote.s === QuoteDataSEnum.Ok) {
    const values: V = firstQuote.v;
    void values;
  }
  const health: DatafeedHealthResponse = (await api.datafeedHealthCheck()).data;
  const placed: PlaceOrderResult = (await api.placeOrder(order)).data;
  const preview: OrderPreviewResult = (await api.previewOrder(withStop)).data;
  const rows: OrderPreviewSectionRow[] | undefined = preview.sections[0]?.rows;
  await api.modifyOrder(placed.orderId, order);
  const canceled: SuccessResponse = (await api.cancelOrder(placed.orderId)).data;
  const orders: PlacedOrder[] = (await api.getOrders()).data;
  const working = orders.filter((o) => o.status === OrderStatus.NUMBER_6);
  const positions: Position[] = (await api.getPositions()).data;
  const executions: Execution[] = (await api.getExecutions("AAPL")).data;
  const account: AccountMetainfo = (await api.getAccountInfo()).data;
  await api.closePosition("AAPL", null);
  await api.closePosition("AAPL", 5);
  await api.closePosition("AAPL");
  await api.editPositionBrackets("AAPL", brackets);
  const levInfo: LeverageInfo = (await api.leverageInfo("AAPL", OrderType.NUMBER_2, Side.NUMBER_1))
    .data;
  const set: LeverageSetResult = (await api.setLeverage(withObjectFields)).data;
  const levPreview: LeveragePreviewResult = (await api.previewLeverage(leverage)).data;
  const healthStatus: HealthResponse = (await api.getHealthStatus()).data;
  const versionInfo: object = healthStatus.version_info;
  const versions: APIMetadata = (await api.getAPIVersions()).data;
  const current: object = (await api.getCurrentAPIVersion()).data; // `object` in the reference
  const index: unknown = (await new RootApi().rootGet()).data;
  void [close, exchanges, found, status, health, rows, canceled, working, positions, executions,
    account, levInfo, set, levPreview, versionInfo, versions, current, index];
}

export function firstProblem(error: HTTPValidationError): string | undefined {
  const item: ValidationError | undefined = error.detail?.[0];
  const where: LocationInner[] | undefined = item?.loc;
  return item === undefined ? undefined : `${where?.join(".")}: ${item.msg}`;
}
