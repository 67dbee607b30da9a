// Package cloudtrail reads AWS CloudTrail records and is the field catalogue
// of Falco's "aws_cloudtrail" source over them, so that upstream Falco
// CloudTrail rules run on CloudTrail logs.
//
// It owns the reading of CloudTrail files (the S3 delivery format
// {"Records":[...]}, plain JSON arrays, one record per line, and gzip of any
// of them), the meaning of the ct.*, s3.*, ec2.*, ecr.*, iam.*, json.* and
// evt.* fields, mamori's own mamori.* fields (facts the condition language
// cannot reach in a raw record: URL-encoded policies, nested security group
// rules, and what earlier records of a scan established, kept by the
// Detector), and the shape of the alerts a matching rule raises. The rule
// language lives in package rules. It must not fetch logs from AWS, print,
// or decide what a caller does with errors and alerts.
package cloudtrail
