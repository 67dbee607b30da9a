package s3live

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/smithy-go"
)

// explain turns an error from S3 into one that says what to do about it.
func (s *Source) explain(err error) error {
	where := s.location
	if s.cfg.Endpoint != "" {
		where += " at " + s.cfg.Endpoint
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "InvalidClientTokenId":
			return fmt.Errorf("%s: the store refused the credentials (%s): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE: %w", where, ae.ErrorCode(), err)
		case "AccessDenied", "Forbidden":
			return fmt.Errorf("%s: access denied: the credentials need s3:ListBucket on the bucket and s3:GetObject on its objects: %w", where, err)
		case "NoSuchBucket":
			return fmt.Errorf("%s: no such bucket: check its name, and the endpoint or region: %w", where, err)
		case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
			return fmt.Errorf("%s: the bucket is in another region: give its region (--cloudtrail-region) or set AWS_REGION: %w", where, err)
		}
		return fmt.Errorf("%s: %w", where, err)
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("%s: cannot reach the store: check the endpoint and the network: %w", where, err)
	}
	if strings.Contains(err.Error(), "get credentials") || strings.Contains(err.Error(), "retrieve credentials") {
		return fmt.Errorf("%s: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run with an instance role: %w", where, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}
