"""Call-record analytics for Sinch Elastic SIP Trunking."""
