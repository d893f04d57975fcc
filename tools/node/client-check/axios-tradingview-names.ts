// Our document's additions to the typescript-axios client: TradingView's enum member names
// (x-enum-varnames). Type-checked against clients generated from our document only.
import { OrderStatus, OrderType, Side, StopType } from "@client";

export const sides: Side[] = [Side.Buy, Side.Sell];
export const types: OrderType[] = [OrderType.Limit, OrderType.Market, OrderType.Stop,
  OrderType.StopLimit];
export const statuses: OrderStatus[] = [OrderStatus.Canceled, OrderStatus.Filled,
  OrderStatus.Inactive, OrderStatus.Placing, OrderStatus.Rejected, OrderStatus.Working];
export const stops: StopType[] = [StopType.StopLoss, StopType.TrailingStop,
  StopType.GuaranteedStop];
// The TradingView name and the reference-generated name are the same value.
export const same: true = (Side.Buy === Side.NUMBER_1) as true;
