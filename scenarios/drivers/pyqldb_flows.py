"""The flows of the official QLDB Python samples, run unmodified with pyqldb 3.2.x and boto3
1.40.60 against a veritrail emulator: create a ledger and wait for ACTIVE, create tables and
indexes, insert, query with parameters, update, history, list tables, a transaction retried
on an OCC conflict, and a digest. Exits non-zero at the first thing that is not as QLDB does it.

Usage: python pyqldb_flows.py http://127.0.0.1:PORT
"""
import os
import sys
import threading
import time

import boto3
from pyqldb.driver.qldb_driver import QldbDriver

URL = sys.argv[1]
os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIDVERITRAIL")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "secret")
LEDGER = "vehicle-registration"

qldb = boto3.client("qldb", region_name="us-east-1", endpoint_url=URL)
created = qldb.create_ledger(Name=LEDGER, PermissionsMode="ALLOW_ALL", DeletionProtection=True)
assert created["State"] == "CREATING", created
for _ in range(100):
    if qldb.describe_ledger(Name=LEDGER)["State"] == "ACTIVE":
        break
    time.sleep(0.05)
else:
    raise SystemExit("the ledger never became ACTIVE")

driver = QldbDriver(LEDGER, region_name="us-east-1", endpoint_url=URL)

# Tables and indexes, as the DMV sample's create_table / create_index.
for table in ["VehicleRegistration", "Vehicle", "Person", "DriversLicense"]:
    driver.execute_lambda(lambda e, t=table: e.execute_statement("CREATE TABLE " + t))
driver.execute_lambda(lambda e: e.execute_statement("CREATE INDEX ON Person (GovId)"))
driver.execute_lambda(lambda e: e.execute_statement("CREATE INDEX ON VehicleRegistration (VIN)"))
assert sorted(driver.list_tables()) == ["DriversLicense", "Person", "Vehicle", "VehicleRegistration"]

# Insert with parameters (a dict becomes an Ion struct), as insert_document.
person = {"FirstName": "Raul", "LastName": "Lewis", "DOB": None, "GovId": "LEWISR261LL", "GovIdType": "Driver License", "Address": "1719 University Street, Seattle, WA, 98109"}
ids = driver.execute_lambda(lambda e: list(e.execute_statement("INSERT INTO Person ?", person)))
assert len(ids) == 1 and len(ids[0]["documentId"]) == 22, ids
person_id = ids[0]["documentId"]
registration = {"VIN": "1N4AL11D75C109151", "LicensePlateNumber": "LEWISR261LL", "State": "WA", "City": "Seattle",
                "PendingPenaltyTicketAmount": 90.25, "Owners": {"PrimaryOwner": {"PersonId": person_id}, "SecondaryOwners": []}}
driver.execute_lambda(lambda e: e.execute_statement("INSERT INTO VehicleRegistration ?", registration))

# Query with parameters, BY id, nested paths.
rows = driver.execute_lambda(lambda e: list(e.execute_statement("SELECT * FROM Person AS p WHERE p.GovId = ?", "LEWISR261LL")))
assert len(rows) == 1 and rows[0]["LastName"] == "Lewis", rows
found = driver.execute_lambda(lambda e: list(e.execute_statement("SELECT id FROM Person AS p BY id WHERE p.GovId = ?", "LEWISR261LL")))
assert found[0]["id"] == person_id, found

# Update, and FROM … INSERT INTO a nested list (add_secondary_owner).
driver.execute_lambda(lambda e: e.execute_statement(
    "UPDATE VehicleRegistration AS r SET r.Owners.PrimaryOwner.PersonId = ? WHERE r.VIN = ?", person_id, "1N4AL11D75C109151"))
driver.execute_lambda(lambda e: e.execute_statement(
    "FROM VehicleRegistration AS v WHERE v.VIN = ? INSERT INTO v.Owners.SecondaryOwners VALUE ?", "1N4AL11D75C109151", {"PersonId": "CMVdR77XP8zAglmmFDGTvt"}))
owners = driver.execute_lambda(lambda e: list(e.execute_statement(
    "SELECT Owners.SecondaryOwners FROM VehicleRegistration AS v WHERE v.VIN = ?", "1N4AL11D75C109151")))
assert owners[0]["SecondaryOwners"][0]["PersonId"] == "CMVdR77XP8zAglmmFDGTvt", owners

# History, as query_history.
history = driver.execute_lambda(lambda e: list(e.execute_statement(
    "SELECT h.data.Owners.SecondaryOwners, h.metadata.version FROM history(VehicleRegistration) AS h WHERE h.data.VIN = ?", "1N4AL11D75C109151")))
assert [h["version"] for h in history] == [0, 1, 2], history

# The committed view, as the verifier sample reads it.
committed = driver.execute_lambda(lambda e: list(e.execute_statement(
    "SELECT * FROM _ql_committed_VehicleRegistration WHERE data.VIN = ?", "1N4AL11D75C109151")))
assert committed[0]["metadata"]["version"] == 2 and "blockAddress" in committed[0], committed

# OCC: two drivers update the same document at once; the driver retries the loser.
barrier = threading.Barrier(2)
attempts = []
def bump(name):
    d = QldbDriver(LEDGER, region_name="us-east-1", endpoint_url=URL)
    def work(e):
        attempts.append(name)
        rows = list(e.execute_statement("SELECT VALUE p.Visits FROM Person AS p WHERE p.GovId = ?", "LEWISR261LL"))
        visits = rows[0] if rows and rows[0] is not None else 0
        try:
            barrier.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        e.execute_statement("UPDATE Person AS p SET p.Visits = ? WHERE p.GovId = ?", visits + 1, "LEWISR261LL")
    d.execute_lambda(work)
    d.close()
threads = [threading.Thread(target=bump, args=(n,)) for n in ("a", "b")]
for t in threads:
    t.start()
for t in threads:
    t.join()
visits = driver.execute_lambda(lambda e: list(e.execute_statement("SELECT VALUE p.Visits FROM Person AS p WHERE p.GovId = ?", "LEWISR261LL")))
assert visits == [2], (visits, attempts)
assert len(attempts) >= 3, attempts  # one of the two was retried after an OCC conflict

# Digest and deletion protection through boto3.
digest = qldb.get_digest(Name=LEDGER)
assert len(digest["Digest"]) == 32 and "sequenceNo" in digest["DigestTipAddress"]["IonText"], digest
try:
    qldb.delete_ledger(Name=LEDGER)
    raise SystemExit("DeleteLedger succeeded with deletion protection on")
except qldb.exceptions.ResourcePreconditionNotMetException:
    pass
driver.close()
print("pyqldb flows: ok")
