// Package s3live reads CloudTrail logs live from an S3 bucket, or from a
// store that speaks the S3 API, as CloudTrail delivers them: it lists a
// bucket and prefix at an interval, reads each new object once with
// package cloudtrail's reader, and keeps a checkpoint file so that a
// restart neither loses nor repeats a record.
//
// It owns listing and fetching objects, deciding which are new, and the
// checkpoint: which objects are done and how far into a partly read object
// the caller has acknowledged records. It must not parse records itself
// (package cloudtrail does), evaluate rules or write alerts: the caller
// does that in the function it passes to Poll and Run.
package s3live
