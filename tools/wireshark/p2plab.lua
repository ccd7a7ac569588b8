-- p2plab.lua: a Wireshark dissector for the p2plab wire protocol
-- (docs/protocol.md section 2: frames are a 4-byte big-endian length L,
-- 1 <= L <= 1,048,576, then L bytes of one UTF-8 JSON object
-- {"type", "id", "re", "body"}).
--
-- Load it for one run:
--     tshark -X lua_script:tools/wireshark/p2plab.lua -r host.pcap -Y p2plab
-- or for good: copy it to ~/.local/lib/wireshark/plugins/ (see
-- docs/wireshark.md).
--
-- The server's port (7000 in the lab) is registered; every other TCP
-- stream (the P2P channels run between ephemeral ports) is recognised by a
-- heuristic: a length in range followed by '{'. UDP datagrams holding one
-- JSON object with a "type" member (the v1.1 rendezvous hellos and punch
-- datagrams of docs/protocol.md 9.5-9.6, one length-prefixed frame each) are
-- decoded too.

local p2plab = Proto("p2plab", "p2plab IM protocol")

local MAX_FRAME = 1048576

local f = {
    length = ProtoField.uint32("p2plab.length", "Length", base.DEC),
    type = ProtoField.string("p2plab.type", "Type"),
    id = ProtoField.int64("p2plab.id", "Id"),
    re = ProtoField.int64("p2plab.re", "Re"),
    sender = ProtoField.string("p2plab.sender", "Sender (body.userID)"),
    dest = ProtoField.string("p2plab.dest", "Destination (body.destUserID)"),
    message_id = ProtoField.string("p2plab.message_id", "Message ID"),
    transfer_id = ProtoField.string("p2plab.transfer_id", "Transfer ID"),
    error_code = ProtoField.string("p2plab.error_code", "Error code"),
    json = ProtoField.string("p2plab.json", "JSON"),
    bad = ProtoField.string("p2plab.bad", "Malformed"),
}
p2plab.fields = f

local server_port = 7000
p2plab.prefs.port = Pref.uint("Server TCP/UDP port", server_port, "The p2plab server's port (7000 in the lab)")

-- A small JSON reader: enough to find the frame's members and the body's
-- identity members. It returns nil and a reason for anything that is not
-- JSON, so a malformed frame is shown as such rather than guessed at.
local json = {}

local function skip_ws(s, i)
    local _, e = s:find("^[ \t\r\n]*", i)
    return e + 1
end

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function read_string(s, i)
    -- s:sub(i, i) == '"'
    local out = {}
    local j = i + 1
    while j <= #s do
        local c = s:sub(j, j)
        if c == '"' then
            return table.concat(out), j + 1
        elseif c == "\\" then
            local n = s:sub(j + 1, j + 1)
            if n == "u" then
                local hex = s:sub(j + 2, j + 5)
                if not hex:match("^%x%x%x%x$") then return nil, "bad \\u escape" end
                local cp = tonumber(hex, 16)
                out[#out + 1] = cp < 128 and string.char(cp) or "?"
                j = j + 6
            elseif escapes[n] then
                out[#out + 1] = escapes[n]
                j = j + 2
            else
                return nil, "bad escape"
            end
        else
            out[#out + 1] = c
            j = j + 1
        end
    end
    return nil, "unterminated string"
end

local read_value

local function read_object(s, i)
    local obj = {}
    i = skip_ws(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
        if s:sub(i, i) ~= '"' then return nil, "object key expected" end
        local k, ni = read_string(s, i)
        if not k then return nil, ni end
        i = skip_ws(s, ni)
        if s:sub(i, i) ~= ":" then return nil, "':' expected" end
        local v
        v, i = read_value(s, skip_ws(s, i + 1))
        if i == nil then return nil, "bad value" end
        obj[k] = v
        i = skip_ws(s, i)
        local c = s:sub(i, i)
        if c == "}" then return obj, i + 1 end
        if c ~= "," then return nil, "',' or '}' expected" end
        i = skip_ws(s, i + 1)
    end
end

local function read_array(s, i)
    local arr = {}
    i = skip_ws(s, i + 1)
    if s:sub(i, i) == "]" then return arr, i + 1 end
    while true do
        local v
        v, i = read_value(s, i)
        if i == nil then return nil, "bad value" end
        arr[#arr + 1] = v
        i = skip_ws(s, i)
        local c = s:sub(i, i)
        if c == "]" then return arr, i + 1 end
        if c ~= "," then return nil, "',' or ']' expected" end
        i = skip_ws(s, i + 1)
    end
end

read_value = function(s, i)
    i = skip_ws(s, i)
    local c = s:sub(i, i)
    if c == "{" then return read_object(s, i) end
    if c == "[" then return read_array(s, i) end
    if c == '"' then return read_string(s, i) end
    for lit, val in pairs({ ["true"] = true, ["false"] = false, ["null"] = json }) do
        if s:sub(i, i + #lit - 1) == lit then return val, i + #lit end
    end
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    if num and #num > 0 then return tonumber(num), i + #num end
    return nil, nil
end

-- json.decode returns the object of a whole document, or nil and a reason.
function json.decode(s)
    local i = skip_ws(s, 1)
    if s:sub(i, i) ~= "{" then return nil, "not a JSON object" end
    local v, e = read_object(s, i)
    if v == nil then return nil, e end
    if skip_ws(s, e) <= #s then return nil, "trailing bytes after the object" end
    return v
end

local function str(v)
    if v == nil or v == json then return nil end
    return tostring(v)
end

-- add_frame decodes one frame's JSON (tvb range r) into tree and returns its
-- type for the Info column.
local function add_frame(r, tree, pinfo)
    local text = r:string(ENC_UTF_8)
    local obj, why = json.decode(text)
    if obj == nil then
        tree:add(f.bad, r, why)
        return "malformed"
    end
    local typ = str(obj.type) or "(no type)"
    tree:add(f.type, r, typ)
    if type(obj.id) == "number" then tree:add(f.id, r, Int64(obj.id)) end
    if type(obj.re) == "number" then tree:add(f.re, r, Int64(obj.re)) end
    local body = type(obj.body) == "table" and obj.body or {}
    if str(body.userID) then tree:add(f.sender, r, str(body.userID)) end
    if str(body.destUserID) then tree:add(f.dest, r, str(body.destUserID)) end
    if str(body.messageID) then tree:add(f.message_id, r, str(body.messageID)) end
    if str(body.transferID) then tree:add(f.transfer_id, r, str(body.transferID)) end
    if typ == "Error" and str(body.code) then tree:add(f.error_code, r, str(body.code)) end
    tree:add(f.json, r, text)
    tree:append_text(": " .. typ)
    return typ
end

local function append_info(pinfo, typ)
    local cur = tostring(pinfo.cols.info)
    if cur:find("^p2plab ") then
        pinfo.cols.info:append(", " .. typ)
    else
        pinfo.cols.info:set("p2plab " .. typ)
    end
end

local function frame_len(tvb, pinfo, offset)
    return 4 + tvb(offset, 4):uint()
end

local function dissect_one(tvb, pinfo, tree)
    pinfo.cols.protocol:set("P2PLAB")
    local n = tvb(0, 4):uint()
    local sub = tree:add(p2plab, tvb(), "p2plab frame")
    sub:add(f.length, tvb(0, 4))
    if n < 1 or n > MAX_FRAME then
        sub:add(f.bad, tvb(0, 4), "length out of range")
        append_info(pinfo, "bad length")
        return tvb:len()
    end
    append_info(pinfo, add_frame(tvb(4, n), sub, pinfo))
    return tvb:len()
end

function p2plab.dissector(tvb, pinfo, tree)
    dissect_tcp_pdus(tvb, tree, 4, frame_len, dissect_one, true)
    return tvb:len()
end

-- looks_like_frame is the heuristic: a length in range, then '{' (JSON may
-- start with white space, the lab's programs never do).
local function looks_like_frame(tvb)
    if tvb:len() < 5 then return false end
    local n = tvb(0, 4):uint()
    if n < 2 or n > MAX_FRAME then return false end
    local c = tvb(4, 1):uint()
    return c == 0x7b
end

local function heur_tcp(tvb, pinfo, tree)
    if not looks_like_frame(tvb) then return false end
    pinfo.conversation = p2plab
    dissect_tcp_pdus(tvb, tree, 4, frame_len, dissect_one, true)
    return true
end

-- UDP: one JSON object per datagram (with or without the length prefix).
local p2plab_udp = Proto("p2plab_udp", "p2plab UDP datagram")

local function dissect_udp(tvb, pinfo, tree)
    local start = 0
    if tvb:len() >= 5 and tvb(0, 1):uint() ~= 0x7b and tvb(4, 1):uint() == 0x7b and tvb(0, 4):uint() == tvb:len() - 4 then
        start = 4
    end
    if tvb:len() <= start or tvb(start, 1):uint() ~= 0x7b then return false end
    local text = tvb(start):string(ENC_UTF_8)
    local obj = json.decode(text)
    if obj == nil or str(obj.type) == nil then return false end
    pinfo.cols.protocol:set("P2PLAB")
    local sub = tree:add(p2plab, tvb(), "p2plab datagram")
    append_info(pinfo, add_frame(tvb(start), sub, pinfo))
    return true
end

function p2plab_udp.dissector(tvb, pinfo, tree)
    dissect_udp(tvb, pinfo, tree)
    return tvb:len()
end

DissectorTable.get("tcp.port"):add(server_port, p2plab)
DissectorTable.get("udp.port"):add(server_port, p2plab_udp)
p2plab:register_heuristic("tcp", heur_tcp)
p2plab_udp:register_heuristic("udp", dissect_udp)
