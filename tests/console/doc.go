// Package console holds the web console's browser tests: a headless
// Chromium (Debian's chromium package; .ci/run installs it) driven from
// Go with github.com/chromedp/chromedp, against a console served by a
// three-node cluster inside the test. It is a module of its own so that
// chromedp stays out of the main module's dependencies.
//
//	cd tests/console && go test -count=1 .
//
// MINIBROKER_SCREENSHOTS=dir keeps each page's screenshot in dir (default:
// a directory under the test's temporary directory, printed with -v).
// MINIBROKER_BROWSER_REQUIRED=1 (set by .ci/run) fails the tests instead
// of skipping them when no Chromium is found.
package console
