//! S3's XML documents that Fleuve reads (error, object listing, multipart answers) and the one
//! it writes (the parts of a multipart upload).

use super::s3::ObjectInfo;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorDoc {
    code: String,
    #[serde(default)]
    message: String,
}

/// The `Code` and `Message` of an S3 error document.
pub fn error(text: &str) -> Option<(String, String)> {
    if !text.contains("<Error") {
        return None;
    }
    let doc: ErrorDoc = quick_xml::de::from_str(text).ok()?;
    Some((doc.code, doc.message))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListDoc {
    #[serde(default)]
    contents: Vec<Contents>,
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_continuation_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Contents {
    key: String,
    size: u64,
    #[serde(rename = "ETag", default)]
    etag: String,
}

/// One page of `ListObjectsV2`.
pub struct ListPage {
    /// Its objects.
    pub objects: Vec<ObjectInfo>,
    /// The token of the next page, when truncated.
    pub next: Option<String>,
}

/// Reads a `ListBucketResult`.
pub fn list(text: &str) -> Result<ListPage, String> {
    let doc: ListDoc = quick_xml::de::from_str(text).map_err(|e| e.to_string())?;
    let next = if doc.is_truncated {
        Some(
            doc.next_continuation_token
                .ok_or("truncated listing without NextContinuationToken")?,
        )
    } else {
        None
    };
    Ok(ListPage {
        objects: doc
            .contents
            .into_iter()
            .map(|c| ObjectInfo {
                key: c.key,
                size: c.size,
                etag: c.etag.trim_matches('"').to_string(),
            })
            .collect(),
        next,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadsDoc {
    #[serde(default)]
    is_truncated: bool,
    #[serde(default)]
    next_key_marker: Option<String>,
    #[serde(default)]
    next_upload_id_marker: Option<String>,
    #[serde(rename = "Upload", default)]
    uploads: Vec<UploadDoc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UploadDoc {
    key: String,
    upload_id: String,
}

/// One page of `ListMultipartUploads`.
pub struct UploadsPage {
    /// `(key, upload id)` of each upload in progress.
    pub uploads: Vec<(String, String)>,
    /// The key and upload id markers of the next page, when truncated.
    pub next: Option<(String, String)>,
}

/// Reads a `ListMultipartUploadsResult`.
pub fn uploads(text: &str) -> Result<UploadsPage, String> {
    let doc: UploadsDoc = quick_xml::de::from_str(text).map_err(|e| e.to_string())?;
    let next = if doc.is_truncated {
        Some((
            doc.next_key_marker
                .ok_or("truncated listing without NextKeyMarker")?,
            doc.next_upload_id_marker.unwrap_or_default(),
        ))
    } else {
        None
    };
    Ok(UploadsPage {
        uploads: doc
            .uploads
            .into_iter()
            .map(|u| (u.key, u.upload_id))
            .collect(),
        next,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateDoc {
    upload_id: String,
}

/// The `UploadId` of an `InitiateMultipartUploadResult`.
pub fn upload_id(text: &str) -> Result<String, String> {
    let doc: InitiateDoc = quick_xml::de::from_str(text).map_err(|e| e.to_string())?;
    Ok(doc.upload_id)
}

#[derive(Deserialize)]
struct CompleteDoc {
    #[serde(rename = "ETag")]
    etag: String,
}

/// The `ETag` of a `CompleteMultipartUploadResult` (quotes removed).
pub fn complete_etag(text: &str) -> Result<String, String> {
    let doc: CompleteDoc = quick_xml::de::from_str(text).map_err(|e| e.to_string())?;
    Ok(doc.etag.trim_matches('"').to_string())
}

/// The body of `CompleteMultipartUpload` for parts 1.. with these ETags.
pub fn complete_body(etags: &[String]) -> String {
    let mut s = String::from("<CompleteMultipartUpload>");
    for (i, etag) in etags.iter().enumerate() {
        s.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>",
            i + 1,
            quick_xml::escape::escape(etag.as_str())
        ));
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_uploads_in_progress_are_listed() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>media</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>hls/u/b.mp4</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>
  <Prefix>hls/u/</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>hls/u/a.mp4</Key><UploadId>id1</UploadId><Initiated>2026-12-06T00:00:00Z</Initiated></Upload>
  <Upload><Key>hls/u/b.mp4</Key><UploadId>id2</UploadId></Upload>
</ListMultipartUploadsResult>"#;
        let page = uploads(text).unwrap();
        assert_eq!(
            page.uploads,
            vec![
                ("hls/u/a.mp4".to_string(), "id1".to_string()),
                ("hls/u/b.mp4".to_string(), "id2".to_string())
            ]
        );
        assert_eq!(page.next, Some(("hls/u/b.mp4".into(), "id2".into())));
        let empty = uploads("<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>").unwrap();
        assert!(empty.uploads.is_empty() && empty.next.is_none());
    }

    #[test]
    fn reads_s3_documents() {
        let e = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>Bucket not found: nope</Message><Resource>/nope</Resource></Error>"#;
        assert_eq!(
            error(e).unwrap(),
            ("NoSuchBucket".into(), "Bucket not found: nope".into())
        );
        assert!(error("<ListBucketResult/>").is_none());
        let l = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>media</Name><Prefix>hls/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated><NextContinuationToken>abc</NextContinuationToken>
<Contents><Key>hls/u/a.m3u8</Key><LastModified>2026-12-05T10:00:00.000Z</LastModified><ETag>&quot;0123&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>
<Contents><Key>hls/u/b.mp4</Key><ETag>"99-3"</ETag><Size>7</Size></Contents></ListBucketResult>"#;
        let page = list(l).unwrap();
        assert_eq!(page.next.as_deref(), Some("abc"));
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].etag, "0123");
        assert_eq!(page.objects[1].size, 7);
        let empty =
            list(r#"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"#)
                .unwrap();
        assert!(empty.objects.is_empty() && empty.next.is_none());
        assert_eq!(
            upload_id("<InitiateMultipartUploadResult><Bucket>m</Bucket><Key>k</Key><UploadId>u-1</UploadId></InitiateMultipartUploadResult>").unwrap(),
            "u-1"
        );
        assert_eq!(
            complete_etag("<CompleteMultipartUploadResult><Location>x</Location><Bucket>m</Bucket><Key>k</Key><ETag>\"ab-2\"</ETag></CompleteMultipartUploadResult>").unwrap(),
            "ab-2"
        );
        assert_eq!(
            complete_body(&["a".into(), "b".into()]),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>\"b\"</ETag></Part></CompleteMultipartUpload>"
        );
    }
}
