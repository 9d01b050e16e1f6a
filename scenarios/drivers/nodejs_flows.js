// The flows of the official QLDB Node.js samples, run unmodified with
// amazon-qldb-driver-nodejs 3.1.0 and @aws-sdk/client-qldb(-session) from before QLDB's removal,
// against a veritrail emulator. Exits non-zero at the first thing that is not as QLDB does it.
// Usage: node nodejs_flows.js http://127.0.0.1:PORT
"use strict";
const assert = require("assert");
const { QldbDriver } = require("amazon-qldb-driver-nodejs");
const { QLDB } = require("@aws-sdk/client-qldb");

const url = process.argv[2];
const credentials = { accessKeyId: "AKIDVERITRAIL", secretAccessKey: "secret" };
const config = { region: "us-east-1", endpoint: url, credentials };
const LEDGER = "vehicle-registration";

async function main() {
  const qldb = new QLDB(config);
  const created = await qldb.createLedger({ Name: LEDGER, PermissionsMode: "ALLOW_ALL", DeletionProtection: true });
  assert.strictEqual(created.State, "CREATING");
  for (let i = 0; ; i++) {
    const d = await qldb.describeLedger({ Name: LEDGER });
    if (d.State === "ACTIVE") break;
    assert.ok(i < 100, "the ledger never became ACTIVE");
    await new Promise((r) => setTimeout(r, 50));
  }

  const driver = new QldbDriver(LEDGER, config);
  for (const table of ["VehicleRegistration", "Person"]) {
    await driver.executeLambda((txn) => txn.execute(`CREATE TABLE ${table}`));
  }
  await driver.executeLambda((txn) => txn.execute("CREATE INDEX ON Person (GovId)"));
  const tables = (await driver.getTableNames()).sort();
  assert.deepStrictEqual(tables, ["Person", "VehicleRegistration"]);

  const person = { FirstName: "Raul", LastName: "Lewis", GovId: "LEWISR261LL", DOB: new Date("1963-08-19T00:00:00Z") };
  const inserted = await driver.executeLambda((txn) => txn.execute("INSERT INTO Person ?", person));
  const personId = inserted.getResultList()[0].get("documentId").stringValue();
  assert.strictEqual(personId.length, 22);

  await driver.executeLambda((txn) =>
    txn.execute("INSERT INTO VehicleRegistration ?", { VIN: "1N4AL11D75C109151", Owners: { PrimaryOwner: { PersonId: personId }, SecondaryOwners: [] } }));
  const rows = await driver.executeLambda((txn) => txn.execute("SELECT * FROM Person AS p WHERE p.GovId = ?", "LEWISR261LL"));
  assert.strictEqual(rows.getResultList().length, 1);
  assert.strictEqual(rows.getResultList()[0].get("LastName").stringValue(), "Lewis");

  await driver.executeLambda((txn) =>
    txn.execute("UPDATE Person AS p SET p.LastName = ? WHERE p.GovId = ?", "Lewis-Smith", "LEWISR261LL"));
  await driver.executeLambda((txn) =>
    txn.execute("FROM VehicleRegistration AS v WHERE v.VIN = ? INSERT INTO v.Owners.SecondaryOwners VALUE ?", "1N4AL11D75C109151", { PersonId: "CMVdR77XP8zAglmmFDGTvt" }));
  const history = await driver.executeLambda((txn) =>
    txn.execute("SELECT h.data.LastName, h.metadata.version FROM history(Person) AS h WHERE h.metadata.id = ?", personId));
  const versions = history.getResultList().map((r) => r.get("version").numberValue());
  assert.deepStrictEqual(versions, [0, 1]);

  // Two drivers update the same document concurrently: the loser is retried by the driver.
  let attempts = 0;
  const bump = async () => {
    const d = new QldbDriver(LEDGER, config);
    await d.executeLambda(async (txn) => {
      attempts++;
      const r = await txn.execute("SELECT VALUE p.Visits FROM Person AS p WHERE p.GovId = ?", "LEWISR261LL");
      const v = r.getResultList()[0];
      const visits = v === undefined || v.isNull() ? 0 : v.numberValue();
      await new Promise((res) => setTimeout(res, 100));
      await txn.execute("UPDATE Person AS p SET p.Visits = ? WHERE p.GovId = ?", visits + 1, "LEWISR261LL");
    });
    d.close();
  };
  await Promise.all([bump(), bump()]);
  const visits = await driver.executeLambda((txn) => txn.execute("SELECT VALUE p.Visits FROM Person AS p WHERE p.GovId = ?", "LEWISR261LL"));
  assert.strictEqual(visits.getResultList()[0].numberValue(), 2);
  assert.ok(attempts >= 3, `expected an OCC retry, saw ${attempts} attempts`);

  const digest = await qldb.getDigest({ Name: LEDGER });
  assert.strictEqual(digest.Digest.length, 32);
  await assert.rejects(qldb.deleteLedger({ Name: LEDGER }), (e) => e.name === "ResourcePreconditionNotMetException");
  driver.close();
  console.log("nodejs flows: ok");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
