//! Object storage against a real S3 server: Garage on loopback (tests/common/garage.rs).

mod common;

use common::garage::Garage;
use fleuve::config::object_storage::{BucketConfig, ObjectStorageConfig};
use fleuve::media::objstore::s3::S3Error;
use fleuve::media::objstore::transfer::TransferError;
use fleuve::media::objstore::ObjectStorage;
use std::io::Read;

fn config(g: &Garage, bucket: &str) -> ObjectStorageConfig {
    ObjectStorageConfig {
        enabled: true,
        endpoint: g.endpoint(),
        region: g.region.into(),
        force_path_style: true,
        max_upload_part: 5 * 1024 * 1024,
        streaming_playlists: BucketConfig {
            bucket_name: bucket.into(),
            prefix: "videos/".into(),
            base_url: String::new(),
        },
        ..Default::default()
    }
}

fn storage(g: &Garage, bucket: &str, secret: &str) -> ObjectStorage {
    let c = config(g, bucket);
    let env = |n: &str| match n {
        "AWS_ACCESS_KEY_ID" => Some(g.key_id.clone()),
        "AWS_SECRET_ACCESS_KEY" => Some(secret.to_string()),
        _ => None,
    };
    ObjectStorage::from_config(&c, &env).unwrap().unwrap()
}

/// The client on Garage: single and multipart uploads checked by ETag, ranged reads, listings,
/// deletes, ACLs that Garage does not have, and the errors of a wrong key and a missing bucket.
#[test]
fn client_uploads_reads_lists_and_deletes_on_garage() {
    let g = Garage::start();
    let os = storage(&g, g.bucket, &g.secret);
    os.check().expect("the bucket is reachable");
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("p-master.m3u8");
    std::fs::write(&small, b"#EXTM3U\n#EXT-X-VERSION:7\n").unwrap();
    let big = dir.path().join("p-720-fragmented.mp4");
    let bytes = common::pattern(12 * 1024 * 1024 + 12345);
    std::fs::write(&big, &bytes).unwrap();
    let u = "9c9de5e8-0a1a-4d7b-8e7d-6c1f3c2d5e4f";

    let (size, etag) = os
        .upload_hls_file(u, false, &small, "p-master.m3u8")
        .unwrap();
    assert_eq!(size, 25);
    assert!(!etag.contains('-'), "a single PUT: {etag}");
    let (size, etag) = os
        .upload_hls_file(u, false, &big, "p-720-fragmented.mp4")
        .unwrap();
    assert_eq!(size, bytes.len() as u64);
    assert!(etag.ends_with("-3"), "three 5 MiB parts: {etag}");
    assert!(os
        .hls_file_matches(u, false, &big, "p-720-fragmented.mp4")
        .unwrap());
    assert!(!os
        .hls_file_matches(u, false, &small, "p-720-fragmented.mp4")
        .unwrap());
    assert!(!os
        .hls_file_matches(u, true, &big, "p-720-fragmented.mp4")
        .unwrap());

    // Ranged reads across part boundaries.
    let key = os.hls_key(u, false, "p-720-fragmented.mp4");
    assert_eq!(key, format!("videos/hls/{u}/p-720-fragmented.mp4"));
    let start = 5 * 1024 * 1024 - 10;
    let mut got = os
        .s3()
        .get_object(os.hls_bucket(), &key, Some((start, start + 99)))
        .unwrap();
    assert_eq!(
        (got.status, got.content_length, got.total_size),
        (206, 100, bytes.len() as u64)
    );
    let mut body = Vec::new();
    got.body.read_to_end(&mut body).unwrap();
    assert_eq!(&body[..], &bytes[start as usize..start as usize + 100]);

    // Back down, checked.
    let back = dir.path().join("back.mp4");
    os.download_hls_file(u, false, "p-720-fragmented.mp4", &back)
        .unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), bytes);

    let listed = os.list_hls(u, false).unwrap();
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            format!("videos/hls/{u}/p-720-fragmented.mp4"),
            format!("videos/hls/{u}/p-master.m3u8")
        ]
    );
    // Garage has no object ACLs: reported, not an error.
    assert!(!os.apply_acl(&[key.clone()], true).unwrap());
    // Not readable without credentials.
    let anon = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    )
    .get(&os.s3().object_url(os.hls_bucket(), &key))
    .call()
    .unwrap();
    assert_eq!(anon.status().as_u16(), 403);

    assert_eq!(os.delete_hls(u, false).unwrap(), 2);
    assert!(os.list_hls(u, false).unwrap().is_empty());
    assert!(os
        .s3()
        .head_object(os.hls_bucket(), &key)
        .unwrap()
        .is_none());

    // A wrong secret and a missing bucket: clear errors, no retries on 4xx.
    let wrong = storage(
        &g,
        g.bucket,
        "0000000000000000000000000000000000000000000000000000000000000000",
    );
    let e = wrong.check().unwrap_err();
    assert!(matches!(e, S3Error::Status { status: 403, .. }), "{e}");
    match wrong
        .upload_hls_file(u, false, &small, "x.m3u8")
        .unwrap_err()
    {
        TransferError::S3(S3Error::Status { status: 403, .. }) => {}
        e => panic!("{e}"),
    }
    let missing = storage(&g, "no-such-bucket", &g.secret);
    let e = missing.check().unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    let e = missing
        .upload_hls_file(u, false, &small, "x.m3u8")
        .unwrap_err();
    assert!(e.to_string().contains("no-such-bucket"), "{e}");
}
