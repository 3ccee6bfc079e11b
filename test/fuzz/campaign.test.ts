import { describe, expect, it } from "vitest";
import { runCampaign } from "./campaign/campaign.js";

// The campaign starts a real server on a database of its own, so it needs a PostgreSQL server.
const adminUrl = process.env.DATABASE_URL;

describe.skipIf(!adminUrl)("the fuzz campaign (npm run fuzz), a few hundred requests", () => {
  it("sends them to every route, sees no 5xx and no state change on a refusal, and leaves the server alive", async () => {
    const report = await runCampaign({ requests: 400, seed: 20261125, adminUrl: adminUrl!, concurrency: 4, batchSize: 8 });

    expect(report.violations.map((violation) => `${violation.kind}: ${violation.detail}`)).toEqual([]);
    expect(report.requests).toBeGreaterThanOrEqual(400);
    // Every operation of the document was aimed at, and refusals were really checked against the database.
    expect(Object.keys(report.byRoute)).toEqual(
      expect.arrayContaining([
        "POST /login",
        "POST /messages",
        "GET /events",
        "PUT /blocks/{username}",
        "POST /private/{username}",
      ]),
    );
    expect(report.refusals.verified).toBeGreaterThan(report.refusals.total / 2);
    expect(report.byStatus["201"]).toBeGreaterThan(0);
    expect(report.alive).toEqual({ health: true, loginMessageEvent: true, stoppedCleanly: true });
  }, 300_000);
});
