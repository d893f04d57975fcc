// A script trading on a TRADING_AUTH=keys server through the openapi-generator `typescript-axios`
// client of OUR document (issue 14: "the generated TypeScript client can log in and trade").
// tests/test_generated_clients.py type-checks it against both layouts like the other usage
// files, and also compiles it to JavaScript and runs it with node against a real keys-mode
// server:
//
//   TRADING_BASE_URL=http://127.0.0.1:8000 TRADING_KEY=trk_... node axios-auth-usage.js
//
// It logs in, reads `me`, lists the accounts, opens one, places an order on it (the generated
// `xAccountId` parameter: the X-Account-Id header), reads orders and positions back, and prints
// one JSON line {"user", "accountId", "orderId", "positionId"} for the test to check over REST.
// With TRADING_ADMIN_KEY set it also lists the users through the admin API. Exit code 0 only
// when every step answered what it should.
import { isAxiosError } from "axios";
import {
  AdminApi,
  AuthApi,
  BrokerApi,
  Configuration,
  MeAuthEnum,
  OrderStatus,
  OrderType,
  Side,
} from "@client";
import type {
  AccountMetainfo,
  Me,
  NewAccount,
  PlaceOrderResult,
  PlacedOrder,
  Position,
  PreOrder,
  UserWithKeys,
} from "@client";

// Node's globals, typed here so the file needs no @types/node (the checks run with lib DOM).
interface NodeProcess {
  env: Record<string, string | undefined>;
  exitCode?: number;
}
const { env } = (globalThis as unknown as { process: NodeProcess }).process;

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/** The session cookie a login sets, as a `Cookie` request header (a browser keeps it itself). */
function sessionCookie(setCookie: string[] | string | undefined): string {
  const first = (Array.isArray(setCookie) ? setCookie : [setCookie ?? ""])
    .map((c) => c.split(";")[0] ?? "")
    .find((c) => c.startsWith("trading_session="));
  check(first !== undefined, "login sets the trading_session cookie");
  return first;
}

export async function trade(basePath: string, key: string): Promise<Record<string, string>> {
  // 1. Browser style: log in with the key; the answer is `me` and the session cookie.
  const login = await new AuthApi(new Configuration({ basePath })).login({ key });
  const loggedIn: Me = login.data;
  check(loggedIn.auth === MeAuthEnum.Keys, "the server runs TRADING_AUTH=keys");
  check(loggedIn.user !== null, "login names the user");
  const cookie = sessionCookie(login.headers["set-cookie"]);
  const withCookie = new Configuration({ basePath, baseOptions: { headers: { Cookie: cookie } } });
  const meByCookie: Me = (await new AuthApi(withCookie).getMe()).data;
  check(meByCookie.user?.id === loggedIn.user.id, "the cookie authenticates getMe");

  // 2. Script style: the key as the bearer token of every call.
  const config = new Configuration({ basePath, accessToken: key });
  const auth = new AuthApi(config);
  const broker = new BrokerApi(config);
  const me: Me = (await auth.getMe()).data;
  check(me.user?.id === loggedIn.user.id, "the bearer token authenticates getMe");

  const before: AccountMetainfo[] = (await broker.getAccounts()).data;
  check(before.length >= 1, "a new user has an account");
  const wanted: NewAccount = { name: "Client script", initialBalance: 50000 };
  const opened: AccountMetainfo = (await broker.openAccount(wanted)).data;
  const accounts: AccountMetainfo[] = (await broker.getAccounts()).data;
  check(accounts.some((a) => a.id === opened.id), "the opened account is listed");
  const balance = (await broker.getAccountInfo(opened.id)).data;
  check(balance.id === opened.id, "getAccountInfo acts on the X-Account-Id account");

  // A working limit order (far below the market) and a market order, on the chosen account.
  const limit: PreOrder = {
    symbol: "AAPL", type: OrderType.Limit, side: Side.Buy, qty: 3, limitPrice: 1,
  };
  const market: PreOrder = { symbol: "AAPL", type: OrderType.Market, side: Side.Buy, qty: 2 };
  const placed: PlaceOrderResult = (await broker.placeOrder(limit, undefined, opened.id)).data;
  await broker.placeOrder(market, `client-${Date.now()}`, opened.id);

  const orders: PlacedOrder[] = (await broker.getOrders(opened.id)).data;
  const mine = orders.find((o) => o.id === placed.orderId);
  check(mine?.status === OrderStatus.Working, "the limit order works on the chosen account");
  // Without xAccountId a call acts on the first account, where this script placed nothing.
  const firstAccount: PlacedOrder[] = (await broker.getOrders()).data;
  check(firstAccount.length === 0, "the orders went to the chosen account only");
  const positions: Position[] = (await broker.getPositions(opened.id)).data;
  const aapl = positions.find((p) => p.symbol === "AAPL");
  check(aapl !== undefined && aapl.qty === 2, "the market order filled into a position");

  // A POST that reads no body (the client sends `{}` as JSON, as the server asks of browsers).
  const ticket = (await auth.createWsTicket()).data;
  check(ticket.ticket.length > 0, "a WebSocket ticket for /api/v1/ws?ticket=");

  // 3. Wrong credentials are refused with 401.
  const refused = await new BrokerApi(new Configuration({ basePath, accessToken: "trk_wrong" }))
    .getOrders()
    .then(() => 0, (e: unknown) => (isAxiosError(e) ? e.response?.status ?? -1 : -1));
  check(refused === 401, `a wrong key is 401 (got ${refused})`);

  // 4. The operator: the admin API with TRADING_ADMIN_KEY as the bearer token.
  const adminKey = env["TRADING_ADMIN_KEY"];
  if (adminKey !== undefined && adminKey !== "") {
    const admin = new AdminApi(new Configuration({ basePath, accessToken: adminKey }));
    const users: UserWithKeys[] = (await admin.adminListUsers()).data;
    check(users.some((u) => u.id === me.user?.id), "the admin API lists the user");
  }

  await new AuthApi(withCookie).logout();
  return {
    user: me.user?.id ?? "",
    accountId: opened.id,
    orderId: placed.orderId,
    positionId: aapl.id,
  };
}

export async function main(): Promise<void> {
  const basePath = env["TRADING_BASE_URL"];
  const key = env["TRADING_KEY"];
  if (basePath === undefined || key === undefined) {
    throw new Error("set TRADING_BASE_URL and TRADING_KEY");
  }
  console.log(JSON.stringify(await trade(basePath, key)));
}

// Run only when this file is the program, not when the type-check includes it.
if (env["TRADING_BASE_URL"] !== undefined) {
  main().catch((error: unknown) => {
    const detail = isAxiosError(error)
      ? `${error.config?.method} ${error.config?.url}: ${error.response?.status} ` +
        JSON.stringify(error.response?.data)
      : String(error);
    console.error(detail);
    (globalThis as unknown as { process: NodeProcess }).process.exitCode = 1;
  });
}
