//! QLDB control plane: shapes, states, deletion protection, tags, pagination, errors.

use crate::{SIGNED, request, runtime};

#[test]
fn ledgers_live_through_their_states_and_protections() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let u = emu.url.clone();
    let created = request(
        &u,
        "POST",
        "/ledgers",
        &[SIGNED],
        r#"{"Name":"bank","PermissionsMode":"STANDARD","Tags":{"team":"audit"}}"#,
    );
    assert_eq!(created.status, 200);
    assert_eq!(created.json["State"], "CREATING");
    assert_eq!(
        created.json["Arn"],
        "arn:aws:qldb:eu-west-1:000000000000:ledger/bank"
    );
    assert_eq!(created.json["DeletionProtection"], true);
    assert!(created.header("x-amzn-requestid").is_some());
    let described = request(&u, "GET", "/ledgers/bank", &[], "");
    assert_eq!(described.json["State"], "CREATING");
    assert_eq!(
        request(&u, "GET", "/ledgers/bank", &[], "").json["State"],
        "ACTIVE"
    );
    assert!(described.json["CreationDateTime"].is_f64());

    let dup = request(
        &u,
        "POST",
        "/ledgers",
        &[SIGNED],
        r#"{"Name":"bank","PermissionsMode":"STANDARD"}"#,
    );
    assert_eq!(
        (dup.status, dup.error_type()),
        (409, "ResourceAlreadyExistsException")
    );
    let bad = request(
        &u,
        "POST",
        "/ledgers",
        &[],
        r#"{"Name":"-x","PermissionsMode":"STANDARD"}"#,
    );
    assert_eq!(
        (bad.status, bad.error_type()),
        (400, "InvalidParameterException")
    );
    assert_eq!(bad.json["ParameterName"], "Name");
    let no_mode = request(&u, "POST", "/ledgers", &[], r#"{"Name":"x"}"#);
    assert_eq!(no_mode.json["ParameterName"], "PermissionsMode");
    let garbage = request(&u, "POST", "/ledgers", &[], "{not json");
    assert_eq!(
        (garbage.status, garbage.error_type()),
        (400, "SerializationException")
    );

    // Tags by ARN (percent-encoded in the path).
    let arn = "arn%3Aaws%3Aqldb%3Aeu-west-1%3A000000000000%3Aledger%2Fbank";
    assert_eq!(
        request(
            &u,
            "POST",
            &format!("/tags/{arn}"),
            &[],
            r#"{"Tags":{"env":"test"}}"#
        )
        .status,
        200
    );
    let tags = request(&u, "GET", &format!("/tags/{arn}"), &[], "");
    assert_eq!(
        tags.json["Tags"],
        serde_json::json!({"env":"test","team":"audit"})
    );
    assert_eq!(
        request(&u, "DELETE", &format!("/tags/{arn}?tagKeys=team"), &[], "").status,
        200
    );
    assert_eq!(
        request(&u, "GET", &format!("/tags/{arn}"), &[], "").json["Tags"],
        serde_json::json!({"env":"test"})
    );

    // Deletion protection, then UpdateLedger, then delete.
    let refused = request(&u, "DELETE", "/ledgers/bank", &[], "");
    assert_eq!(
        (refused.status, refused.error_type()),
        (412, "ResourcePreconditionNotMetException")
    );
    let updated = request(
        &u,
        "PATCH",
        "/ledgers/bank",
        &[],
        r#"{"DeletionProtection":false}"#,
    );
    assert_eq!(updated.json["DeletionProtection"], false);
    assert!(updated.json.get("PermissionsMode").is_none());
    let mode = request(
        &u,
        "PATCH",
        "/ledgers/bank/permissions-mode",
        &[],
        r#"{"PermissionsMode":"ALLOW_ALL"}"#,
    );
    assert_eq!(mode.json["PermissionsMode"], "ALLOW_ALL");
    assert_eq!(request(&u, "DELETE", "/ledgers/bank", &[], "").status, 200);
    let gone = request(&u, "GET", "/ledgers/bank", &[], "");
    assert_eq!(
        (gone.status, gone.error_type()),
        (404, "ResourceNotFoundException")
    );
    assert_eq!(gone.json["ResourceName"], "bank");
}

#[test]
fn list_pagination_digest_block_revision_and_unknown_operations() {
    let rt = runtime();
    let emu = rt.block_on(veritrail_emulator::spawn()).unwrap();
    let u = emu.url.clone();
    for n in ["a1", "a2", "a3"] {
        request(
            &u,
            "POST",
            "/ledgers",
            &[],
            &format!(r#"{{"Name":"{n}","PermissionsMode":"ALLOW_ALL"}}"#),
        );
    }
    let page = request(&u, "GET", "/ledgers?max_results=2", &[], "");
    assert_eq!(page.json["Ledgers"].as_array().unwrap().len(), 2);
    let token = page.json["NextToken"].as_str().unwrap().to_owned();
    let rest = request(
        &u,
        "GET",
        &format!("/ledgers?max_results=2&next_token={token}"),
        &[],
        "",
    );
    assert_eq!(rest.json["Ledgers"][0]["Name"], "a3");
    assert!(rest.json.get("NextToken").is_none());
    assert_eq!(
        request(&u, "GET", "/ledgers?max_results=0", &[], "").status,
        400
    );

    let digest = request(&u, "POST", "/ledgers/a1/digest", &[], "");
    let tip = digest.json["DigestTipAddress"]["IonText"]
        .as_str()
        .unwrap()
        .to_owned();
    let block = request(&u, "POST", "/ledgers/a1/block", &[], &serde_json::json!({"BlockAddress": {"IonText": tip}, "DigestTipAddress": {"IonText": tip}}).to_string());
    assert_eq!(block.status, 200, "{}", block.json);
    let d = veritrail_verify::parse_digest(&digest.json.to_string()).unwrap();
    let b = veritrail_verify::parse_block(&block.json.to_string()).unwrap();
    veritrail_verify::verify_block(&b.value, b.proof.as_deref(), &d).unwrap();
    let no_proof = request(
        &u,
        "POST",
        "/ledgers/a1/block",
        &[],
        &serde_json::json!({"BlockAddress": {"IonText": tip}}).to_string(),
    );
    assert!(no_proof.json.get("Proof").is_none());
    let past = request(&u, "POST", "/ledgers/a1/block", &[], &serde_json::json!({"BlockAddress": {"IonText": tip.replace("sequenceNo:0", "sequenceNo:9")}}).to_string());
    assert_eq!(
        (past.status, past.error_type()),
        (400, "InvalidParameterException")
    );
    let other = request(
        &u,
        "POST",
        "/ledgers/a1/revision",
        &[],
        r#"{"BlockAddress":{"IonText":"{strandId:\"KmA3ZZca7vAIiJAK9S5Iwl\",sequenceNo:0}"},"DocumentId":"x"}"#,
    );
    assert_eq!(other.json["ParameterName"], "BlockAddress");
    assert_eq!(
        request(&u, "POST", "/ledgers/nope/digest", &[], "").status,
        404
    );

    // A QLDB-signed request for a path QLDB does not have (unsigned ones go to S3, path-style).
    let unknown = request(&u, "GET", "/nothing/here", &[SIGNED], "");
    assert_eq!(
        (unknown.status, unknown.error_type()),
        (400, "UnknownOperationException")
    );
    assert!(
        unknown.json["Message"]
            .as_str()
            .unwrap()
            .contains("GET /nothing/here")
    );
    let export = request(&u, "POST", "/ledgers/a1/journal-s3-exports", &[], "{}");
    assert_eq!(
        (export.status, export.error_type()),
        (400, "InvalidParameterException")
    );
}

#[test]
fn ledgers_survive_a_restart() {
    let rt = runtime();
    let dir =
        std::env::temp_dir().join(format!("veritrail-emulator-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let digest = {
        let emu =
            veritrail_emulator::Emulator::open(veritrail_emulator::Config::new(&dir)).unwrap();
        let running = rt
            .block_on(veritrail_emulator::serve(
                std::sync::Arc::new(emu),
                "127.0.0.1:0".parse().unwrap(),
            ))
            .unwrap();
        request(
            &running.url,
            "POST",
            "/ledgers",
            &[],
            r#"{"Name":"kept","PermissionsMode":"STANDARD","DeletionProtection":false}"#,
        );
        request(&running.url, "POST", "/ledgers/kept/digest", &[], "").json
    };
    let emu = veritrail_emulator::Emulator::open(veritrail_emulator::Config::new(&dir)).unwrap();
    let running = rt
        .block_on(veritrail_emulator::serve(
            std::sync::Arc::new(emu),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let again = request(&running.url, "GET", "/ledgers/kept", &[], "");
    assert_eq!(again.json["DeletionProtection"], false);
    assert_eq!(
        request(&running.url, "POST", "/ledgers/kept/digest", &[], "").json,
        digest
    );
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_ledger_settings_row_stops_start_up_and_is_kept() {
    let rt = runtime();
    let dir =
        std::env::temp_dir().join(format!("veritrail-emulator-damaged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = || veritrail_emulator::Emulator::open(veritrail_emulator::Config::new(&dir));
    {
        let running = rt
            .block_on(veritrail_emulator::serve(
                std::sync::Arc::new(open().unwrap()),
                "127.0.0.1:0".parse().unwrap(),
            ))
            .unwrap();
        let created = request(
            &running.url,
            "POST",
            "/ledgers",
            &[SIGNED],
            r#"{"Name":"bank","PermissionsMode":"STANDARD","KmsKey":"arn:aws:kms:eu-west-1:000000000000:key/k1"}"#,
        );
        assert_eq!(created.status, 200, "{}", created.json);
    }
    let db = rusqlite::Connection::open(dir.join("aws.sqlite")).unwrap();
    let original: String = db
        .query_row(
            "SELECT settings FROM qldb_ledgers WHERE name = 'bank'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let settings: serde_json::Value = serde_json::from_str(&original).unwrap();
    let without = |member: &str| {
        let mut v = settings.clone();
        v.as_object_mut().unwrap().remove(member);
        v.to_string()
    };
    let with = |member: &str, value: serde_json::Value| {
        let mut v = settings.clone();
        v[member] = value;
        v.to_string()
    };
    for (text, why) in [
        ("{\"permissions_mode\":".to_owned(), "EOF while parsing"),
        (without("created"), "missing field `created`"),
        (without("region"), "missing field `region`"),
        // The key is an Option: removed, it would silently become AWS_OWNED_KMS_KEY.
        (without("kms_key"), "missing field `kms_key`"),
        (
            with("permissions_mode", serde_json::json!("SOME")),
            "unknown variant `SOME`",
        ),
        (with("region", serde_json::json!("")), "it has no region"),
    ] {
        db.execute(
            "UPDATE qldb_ledgers SET settings = ?1 WHERE name = 'bank'",
            [&text],
        )
        .unwrap();
        let e = open().unwrap_err();
        assert!(
            matches!(
                e,
                veritrail_emulator::EmulatorError::Store(
                    veritrail_emulator::store::StoreError::Corrupt(_)
                )
            ),
            "{e:?}"
        );
        let e = e.to_string();
        assert!(
            e.starts_with(
                "aws.sqlite is damaged: the settings of ledger bank (qldb_ledgers row \"bank\"): "
            ) && e.contains(why),
            "{why}: {e}"
        );
        let kept: String = db
            .query_row(
                "SELECT settings FROM qldb_ledgers WHERE name = 'bank'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, text, "a refused start changes nothing");
    }

    // Put back, the ledger is served again with its key.
    db.execute(
        "UPDATE qldb_ledgers SET settings = ?1 WHERE name = 'bank'",
        [&original],
    )
    .unwrap();
    let running = rt
        .block_on(veritrail_emulator::serve(
            std::sync::Arc::new(open().unwrap()),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let described = request(&running.url, "GET", "/ledgers/bank", &[], "");
    assert_eq!(
        described.json["EncryptionDescription"]["KmsKeyArn"],
        "arn:aws:kms:eu-west-1:000000000000:key/k1",
        "{}",
        described.json
    );
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}
