package main

import (
	"fmt"
	"io"

	"github.com/mdp/qrterminal/v3"
	"rsc.io/qr"
)

// qrMaxLink is the longest link drawn as a QR code: a denser code (up to QR version 40, 2953
// bytes) does not scan from a terminal. Longer links (a registry's deploy carries its code) are
// only printed.
const qrMaxLink = 1200

// printLinkQR draws a ton://transfer link as a terminal QR code (two modules a character) for a
// wallet app's camera: Tonkeeper or any TON wallet approves it on the phone.
func printLinkQR(w io.Writer, link string) {
	if len(link) > qrMaxLink {
		fmt.Fprintf(w, "(no QR code: the link has %d characters, too many to scan from a screen; open it on the device with the wallet)\n", len(link))
		return
	}
	if _, err := qr.Encode(link, qr.L); err != nil {
		fmt.Fprintf(w, "(no QR code: %v)\n", err)
		return
	}
	qrterminal.GenerateWithConfig(link, qrterminal.Config{Level: qr.L, Writer: w, HalfBlocks: true,
		BlackChar: qrterminal.BLACK_BLACK, WhiteBlackChar: qrterminal.WHITE_BLACK, WhiteChar: qrterminal.WHITE_WHITE,
		BlackWhiteChar: qrterminal.BLACK_WHITE, QuietZone: 2})
}
