/**
 * The sipp UAS the load tests and the load bench call: answers PCMU, echoes RTP with `-rtp_echo`, waits for BYE.
 *
 * @module
 */

/**
 * sipp's built-in `uas` scenario sends no Record-Route, so a proxy-facing UAS built on it never sees the ACK or the
 * BYE through kamailio: this one echoes Record-Route (and answers PCMU, which rtpengine bridges to DTLS-SRTP).
 */
export const UAS_XML = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer, echo RTP, wait for BYE">
  <recv request="INVITE" crlf="true" rrs="true"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpLoad[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:sipp@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=sipp 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
`;
