/*
 * The resident chat page: plays residents against the bot through /simulator/api/.
 *
 * Everything shown comes from JSON and is put into the page with createElement and
 * textContent only: residents' and staff's text stays inert. Positions and colours taken
 * from messages are set through element.style (CSSOM), which the page's CSP allows.
 */
(function () {
  "use strict";

  var POLL_MS = 1500;
  var PHOTO_TYPES = ["image/jpeg", "image/png"];
  var MAX_PHOTO_BYTES = 10 * 1024 * 1024; // LINE's limit, checked again by the server
  // LINE draws an icon on quick replies of these types; these stand-ins need no emoji font.
  var ACTION_ICONS = { camera: "\u25C9", cameraRoll: "\u25A6", location: "\u2691" };
  var SLOW_POLL_EVERY = 4; // residents and the rich menu are refreshed every 4th poll

  var strings = JSON.parse(document.getElementById("simulator-strings").textContent);
  var apiBase = document.querySelector('meta[name="simulator-api"]').content;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');

  var $ = function (id) { return document.getElementById(id); };
  var ui = {
    residentList: $("resident-list"),
    noResidents: $("no-residents"),
    addForm: $("add-resident"),
    newName: $("new-name"),
    newLanguage: $("new-language"),
    title: $("chat-title"),
    status: $("chat-status"),
    follow: $("follow-button"),
    block: $("block-button"),
    error: $("error-line"),
    messages: $("messages"),
    quickReplies: $("quick-replies"),
    picker: $("picker"),
    pickerTitle: $("picker-title"),
    pickerLabel: $("picker-label"),
    pickerInput: $("picker-input"),
    pickerSend: $("picker-send"),
    pickerCancel: $("picker-cancel"),
    photoInput: $("photo-input"),
    composer: $("composer"),
    input: $("message-input"),
    send: $("send-button"),
    menuToggle: $("menu-toggle"),
    menu: $("rich-menu"),
    menuFrame: $("rich-menu-frame"),
    menuImage: $("rich-menu-image")
  };

  var state = {
    residents: [],
    selected: null,
    chatSignature: null,
    renderedKeys: null,
    menuSignature: null,
    menuBarText: "",
    busy: false,
    polling: false,
    polls: 0,
    pickerAction: null
  };

  // Small DOM helpers ------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function clear(node) {
    while (node.firstChild) { node.removeChild(node.firstChild); }
  }

  var COLOR = /^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{8}|[0-9a-fA-F]{3})$/;
  var LENGTH = /^\d+(?:\.\d+)?(?:px|%)$/;
  var KEYWORD_SIZES = { none: "0", xs: "2px", sm: "4px", md: "8px", lg: "12px", xl: "16px", xxl: "20px" };

  function setColor(node, property, value) {
    if (typeof value === "string" && COLOR.test(value)) { node.style[property] = value; }
  }

  function spacing(value) {
    if (typeof value !== "string") { return null; }
    if (Object.prototype.hasOwnProperty.call(KEYWORD_SIZES, value)) { return KEYWORD_SIZES[value]; }
    return LENGTH.test(value) ? value : null;
  }

  function setSpacing(node, property, value) {
    var length = spacing(value);
    if (length !== null) { node.style[property] = length; }
  }

  function keyword(value, allowed) {
    return allowed.indexOf(value) >= 0 ? value : null;
  }

  /** Only same-origin and data: images are shown; the CSP would block the rest anyway. */
  function isShowable(url) {
    if (typeof url !== "string" || !url) { return false; }
    if (/^data:image\//i.test(url)) { return true; }
    try {
      return new URL(url, window.location.href).origin === window.location.origin;
    } catch (error) {
      return false;
    }
  }

  function imageOrPlaceholder(url, className, ratio) {
    var box;
    if (isShowable(url)) {
      box = el("img", className + " shown-image");
      box.src = url;
      box.alt = strings.image;
    } else {
      box = el("div", className + " image-placeholder");
      box.appendChild(el("span", "placeholder-label", strings.image));
      box.appendChild(el("span", "placeholder-url", url || ""));
      box.title = strings.otherSite;
    }
    if (typeof ratio === "string" && /^\d+(?:\.\d+)?:\d+(?:\.\d+)?$/.test(ratio)) {
      box.style.aspectRatio = ratio.replace(":", " / ");
    }
    return box;
  }

  // The JSON API ------------------------------------------------------------------------------

  function call(method, path, body) {
    var headers = { Accept: "application/json" };
    var options = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    if (method !== "GET" && csrfMeta) { headers["X-CSRFToken"] = csrfMeta.content; }
    return fetch(apiBase + path, options).then(
      function (response) {
        return response.json().catch(function () { return null; }).then(function (payload) {
          if (!response.ok) {
            throw new Error((payload && payload.message) || ("HTTP " + response.status));
          }
          return payload;
        });
      },
      function () { throw new Error(strings.noAnswer); }
    );
  }

  function residentPath(suffix) {
    return "/residents/" + encodeURIComponent(state.selected) + suffix;
  }

  function showError(message) {
    ui.error.textContent = message;
    ui.error.classList.remove("notice");
    ui.error.hidden = false;
  }

  function clearError() {
    ui.error.hidden = true;
    ui.error.textContent = "";
  }

  // Residents --------------------------------------------------------------------------------

  function friendshipLabel(friendship) {
    if (friendship === "friend") { return strings.friend; }
    if (friendship === "blocked") { return strings.blocked; }
    return strings.notFriend;
  }

  function selectedResident() {
    for (var i = 0; i < state.residents.length; i += 1) {
      if (state.residents[i].userId === state.selected) { return state.residents[i]; }
    }
    return null;
  }

  function renderResidents() {
    var focused = ui.residentList.contains(document.activeElement)
      ? document.activeElement.dataset.userId : null;
    clear(ui.residentList);
    ui.noResidents.hidden = state.residents.length > 0;
    state.residents.forEach(function (resident) {
      var item = el("li");
      var button = el("button", "resident-button");
      button.type = "button";
      button.dataset.userId = resident.userId;
      button.setAttribute("aria-pressed", String(resident.userId === state.selected));
      button.appendChild(el("span", "resident-name", resident.displayName));
      var meta = el("span", "resident-meta");
      meta.appendChild(el("span", "resident-language", resident.language || "?"));
      meta.appendChild(el("span", "friendship " + resident.friendship, friendshipLabel(resident.friendship)));
      button.appendChild(meta);
      button.addEventListener("click", function () { select(resident.userId); });
      item.appendChild(button);
      ui.residentList.appendChild(item);
      if (resident.userId === focused) { button.focus(); }
    });
    renderHeader();
  }

  function renderHeader() {
    var resident = selectedResident();
    if (!resident) {
      ui.title.textContent = strings.select;
      ui.status.hidden = true;
      ui.follow.disabled = ui.block.disabled = true;
      ui.input.disabled = ui.send.disabled = true;
      return;
    }
    ui.title.textContent = resident.displayName;
    ui.status.hidden = false;
    ui.status.className = "badge friendship " + resident.friendship;
    ui.status.textContent = friendshipLabel(resident.friendship);
    ui.follow.disabled = state.busy || resident.friendship === "friend";
    ui.block.disabled = state.busy || resident.friendship !== "friend";
    var blocked = resident.friendship === "blocked";
    ui.input.disabled = blocked;
    ui.send.disabled = blocked || state.busy;
    ui.input.title = blocked ? strings.blockedHint : "";
  }

  function loadResidents() {
    return call("GET", "/residents").then(function (payload) {
      state.residents = payload.residents || [];
      renderResidents();
    });
  }

  function select(userId) {
    state.selected = userId;
    state.chatSignature = null;
    state.renderedKeys = null;
    state.menuSignature = null;
    closePicker();
    clearError();
    window.history.replaceState(null, "", "#" + encodeURIComponent(userId));
    renderResidents();
    return refreshSelected();
  }

  function refreshSelected() {
    if (!state.selected) { return Promise.resolve(); }
    return Promise.all([loadChat(), loadMenu()]).catch(function (error) { showError(error.message); });
  }

  // Actions ----------------------------------------------------------------------------------

  function setBusy(busy) {
    state.busy = busy;
    ui.composer.setAttribute("aria-busy", String(busy));
    renderHeader();
  }

  /** POST one resident action, then refresh everything the action may have changed. */
  function act(suffix, body) {
    if (!state.selected || state.busy) { return Promise.resolve(false); }
    var resident = selectedResident();
    if (resident && resident.friendship === "blocked" && suffix !== "/follow") {
      notice(strings.blockedHint); // LINE sends nothing from a chat the resident blocked
      return Promise.resolve(false);
    }
    setBusy(true);
    clearError();
    var ok = false;
    return call("POST", residentPath(suffix), body)
      .then(function () { ok = true; }, function (error) { showError(error.message); })
      .then(function () {
        setBusy(false);
        return Promise.all([loadResidents(), refreshSelected()]);
      })
      .catch(function (error) { showError(error.message); })
      .then(function () { return ok; });
  }

  function sendText(text) {
    if (!text || !text.trim()) { return Promise.resolve(false); }
    return act("/text", { text: text });
  }

  function sendPostback(data, displayText, params) {
    var body = { data: data };
    if (displayText) { body.displayText = displayText; }
    if (params) { body.params = params; }
    return act("/postback", body);
  }

  function notice(text) {
    showError(text);
    ui.error.classList.add("notice");
  }

  /** Camera and camera roll: choose a photo file; it is sent as the resident's image. */
  function choosePhoto() {
    ui.photoInput.value = "";
    ui.photoInput.click();
  }

  function sendPhoto(file) {
    if (PHOTO_TYPES.indexOf(file.type) < 0) { showError(strings.photoType); return; }
    if (file.size > MAX_PHOTO_BYTES) { showError(strings.photoTooLarge); return; }
    var reader = new FileReader();
    reader.onload = function () {
      var url = String(reader.result);
      act("/image", { contentType: file.type, data: url.slice(url.indexOf(",") + 1) });
    };
    reader.onerror = function () { showError(strings.photoUnreadable); };
    reader.readAsDataURL(file);
  }

  /** What tapping an action does: quick replies, template and Flex buttons, menu areas. */
  function perform(action) {
    if (!action || typeof action !== "object") { return; }
    switch (action.type) {
      case "postback":
        sendPostback(action.data, action.displayText || action.text || null, null);
        break;
      case "message":
        sendText(action.text);
        break;
      case "datetimepicker":
        openPicker(action);
        break;
      case "richmenuswitch":
        sendPostback(action.data, null, null);
        break;
      case "uri":
        notice(strings.link + ": " + (action.uri || ""));
        break;
      case "camera":
      case "cameraRoll":
        choosePhoto();
        break;
      case "location":
        notice(strings.noLocation);
        break;
      default:
        notice(strings.notSimulated + ": " + (action.type || "?"));
    }
  }

  var KNOWN_ACTIONS = ["postback", "message", "datetimepicker", "richmenuswitch", "uri", "camera", "cameraRoll", "location"];

  function actionButton(action, className) {
    var label = (action && (action.label || action.text || action.displayText)) || "…";
    var button = el("button", className);
    button.type = "button";
    var type = action && typeof action.type === "string" ? action.type : "";
    if (Object.prototype.hasOwnProperty.call(ACTION_ICONS, type)) {
      var icon = el("span", "action-icon", ACTION_ICONS[type]);
      icon.setAttribute("aria-hidden", "true");
      button.appendChild(icon);
    }
    button.appendChild(document.createTextNode(label));
    if (type === "uri") {
      button.classList.add("uri");
      button.title = strings.link + ": " + (action.uri || "");
    } else if (KNOWN_ACTIONS.indexOf(type) < 0) {
      button.classList.add("unsupported");  // still tappable: it says what is missing
      button.title = strings.notSimulated + ": " + (type || "?");
    }
    button.addEventListener("click", function () { perform(action); });
    return button;
  }

  // Date and time pickers --------------------------------------------------------------------

  function openPicker(action) {
    var mode = keyword(action.mode, ["date", "time", "datetime"]) || "date";
    var titles = { date: strings.chooseDate, time: strings.chooseTime, datetime: strings.chooseDateTime };
    state.pickerAction = action;
    ui.pickerInput.type = mode === "datetime" ? "datetime-local" : mode;
    ui.pickerInput.value = "";
    ui.pickerInput.min = action.min || "";
    ui.pickerInput.max = action.max || "";
    ui.pickerInput.value = action.initial || "";
    ui.pickerInput.dataset.mode = mode;
    ui.pickerTitle.textContent = (action.label ? action.label + " — " : "") + titles[mode];
    ui.pickerLabel.textContent = titles[mode];
    ui.picker.hidden = false;
    scrollToEnd();
    ui.pickerInput.focus();
  }

  function closePicker() {
    state.pickerAction = null;
    ui.picker.hidden = true;
  }

  function submitPicker() {
    var action = state.pickerAction;
    var value = ui.pickerInput.value;
    if (!action || !value) { ui.pickerInput.focus(); return; }
    var params = {};
    params[ui.pickerInput.dataset.mode] = value.length > 16 ? value.slice(0, 16) : value;
    closePicker();
    sendPostback(action.data, null, params);
  }

  // Messages ---------------------------------------------------------------------------------

  function textBubble(text, className) {
    return el("div", "bubble " + (className || "bot"), text);
  }

  function substituted(message) {
    var substitution = message.substitution || {};
    return String(message.text || "").replace(/\{([A-Za-z0-9_]{1,20})\}/g, function (whole, key) {
      var value = Object.prototype.hasOwnProperty.call(substitution, key) ? substitution[key] : null;
      if (!value) { return whole; }
      if (value.type === "mention") { return "@" + ((value.mentionee && value.mentionee.userId) || "all"); }
      return "[emoji]";
    });
  }

  function renderTemplateColumn(column, className) {
    var card = el("div", className);
    if (column.thumbnailImageUrl) {
      card.appendChild(imageOrPlaceholder(column.thumbnailImageUrl, "template-image", "1.51:1"));
    }
    var inner = el("div", "template-body");
    if (column.title) { inner.appendChild(el("p", "template-title", column.title)); }
    if (column.text) { inner.appendChild(el("p", "template-text", column.text)); }
    card.appendChild(inner);
    var actions = el("div", "template-actions");
    (column.actions || []).forEach(function (action) {
      actions.appendChild(actionButton(action, "template-button"));
    });
    card.appendChild(actions);
    return card;
  }

  function renderTemplate(template, altText) {
    if (!template) { return unsupported(altText); }
    if (template.type === "buttons") {
      return renderTemplateColumn(template, "template-card");
    }
    if (template.type === "confirm") {
      var card = el("div", "template-card confirm");
      card.appendChild(el("p", "template-text", template.text));
      var row = el("div", "template-actions confirm-actions");
      (template.actions || []).forEach(function (action) {
        row.appendChild(actionButton(action, "template-button"));
      });
      card.appendChild(row);
      return card;
    }
    if (template.type === "carousel") {
      var carousel = el("div", "carousel");
      (template.columns || []).forEach(function (column) {
        carousel.appendChild(renderTemplateColumn(column, "template-card carousel-item"));
      });
      return carousel;
    }
    if (template.type === "image_carousel") {
      var images = el("div", "carousel");
      (template.columns || []).forEach(function (column) {
        var cell = el("div", "template-card carousel-item image-column");
        cell.appendChild(imageOrPlaceholder(column.imageUrl, "template-image", "1:1"));
        if (column.action) { cell.appendChild(actionButton(column.action, "template-button")); }
        images.appendChild(cell);
      });
      return images;
    }
    return unsupported(altText);
  }

  // Flex: bubble and carousel, header/hero/body/footer, box/text/button/image/... ------------

  var SIZES = ["xxs", "xs", "sm", "md", "lg", "xl", "xxl", "3xl", "4xl", "5xl", "full"];

  function applyCommon(node, component, parentLayout) {
    if (typeof component.flex === "number") {
      node.style.flex = component.flex + " " + (component.flex ? 1 : 0) + " " + (parentLayout === "vertical" ? "auto" : "0");
    }
    var margin = spacing(component.margin);
    if (margin !== null) {
      node.style[parentLayout === "vertical" ? "marginTop" : "marginLeft"] = margin;
    }
    var gravity = keyword(component.gravity, ["top", "bottom", "center"]);
    if (gravity && parentLayout !== "vertical") {
      node.style.alignSelf = { top: "flex-start", bottom: "flex-end", center: "center" }[gravity];
    }
    if (component.action) {
      node.classList.add("tappable");
      node.tabIndex = 0;
      node.setAttribute("role", "button");
      if (component.action.label) { node.setAttribute("aria-label", component.action.label); }
      node.addEventListener("click", function (event) { event.stopPropagation(); perform(component.action); });
      node.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); perform(component.action); }
      });
    }
  }

  function renderSpan(span) {
    var node = el("span", "flex-span", span.text);
    if (span.weight === "bold") { node.classList.add("bold"); }
    if (span.style === "italic") { node.classList.add("italic"); }
    var decoration = keyword(span.decoration, ["underline", "line-through"]);
    if (decoration) { node.style.textDecoration = decoration; }
    var size = keyword(span.size, SIZES);
    if (size) { node.classList.add("text-" + size); }
    setColor(node, "color", span.color);
    return node;
  }

  function renderText(component, parentLayout) {
    var node = el("p", "flex-text text-" + (keyword(component.size, SIZES) || "md"));
    if (Array.isArray(component.contents) && component.contents.length) {
      component.contents.forEach(function (span) {
        if (span && span.type === "span") { node.appendChild(renderSpan(span)); }
      });
    } else {
      node.textContent = component.text || "";
    }
    if (component.wrap) { node.classList.add("wrap"); }
    if (component.weight === "bold") { node.classList.add("bold"); }
    if (component.style === "italic") { node.classList.add("italic"); }
    var align = keyword(component.align, ["start", "end", "center"]);
    if (align) { node.style.textAlign = align; }
    setColor(node, "color", component.color);
    applyCommon(node, component, parentLayout);
    return node;
  }

  function renderButton(component, parentLayout) {
    var style = keyword(component.style, ["primary", "secondary", "link"]) || "link";
    var button = actionButton(component.action, "flex-button " + style);
    if (component.height === "sm") { button.classList.add("small"); }
    setColor(button, style === "link" ? "color" : "backgroundColor", component.color);
    var margin = spacing(component.margin);
    if (margin !== null) { button.style[parentLayout === "vertical" ? "marginTop" : "marginLeft"] = margin; }
    if (typeof component.flex === "number") { button.style.flex = component.flex + " 1 0"; }
    return button;
  }

  function renderBox(component, parentLayout) {
    var layout = keyword(component.layout, ["vertical", "horizontal", "baseline"]) || "vertical";
    var box = el("div", "flex-box " + layout);
    var gap = spacing(component.spacing);
    if (gap !== null) { box.style.gap = gap; }
    setSpacing(box, "padding", component.paddingAll);
    setSpacing(box, "paddingTop", component.paddingTop);
    setSpacing(box, "paddingBottom", component.paddingBottom);
    setSpacing(box, "paddingStart", component.paddingStart);
    setSpacing(box, "paddingEnd", component.paddingEnd);
    setColor(box, "backgroundColor", component.backgroundColor);
    setColor(box, "borderColor", component.borderColor);
    if (component.borderWidth) {
      var border = spacing(component.borderWidth) || { light: "0.5px", normal: "1px", medium: "2px", "semi-bold": "3px", bold: "4px" }[component.borderWidth];
      if (border) { box.style.borderWidth = border; box.style.borderStyle = "solid"; }
    }
    setSpacing(box, "borderRadius", component.cornerRadius);
    setSpacing(box, "width", component.width);
    setSpacing(box, "height", component.height);
    var justify = keyword(component.justifyContent, ["flex-start", "center", "flex-end", "space-between", "space-around", "space-evenly"]);
    if (justify) { box.style.justifyContent = justify; }
    var alignItems = keyword(component.alignItems, ["flex-start", "center", "flex-end"]);
    if (alignItems) { box.style.alignItems = alignItems; }
    (component.contents || []).forEach(function (child) {
      var rendered = child && renderComponent(child, layout);
      if (rendered) { box.appendChild(rendered); }
    });
    applyCommon(box, component, parentLayout);
    return box;
  }

  function renderComponent(component, parentLayout) {
    var node;
    switch (component.type) {
      case "box":
        return renderBox(component, parentLayout);
      case "text":
        return renderText(component, parentLayout);
      case "button":
        return renderButton(component, parentLayout);
      case "image":
        node = imageOrPlaceholder(component.url, "flex-image size-" + (keyword(component.size, SIZES) || "md"), component.aspectRatio || "1:1");
        applyCommon(node, component, parentLayout);
        return node;
      case "icon":
        node = isShowable(component.url) ? imageOrPlaceholder(component.url, "flex-icon") : el("span", "flex-icon icon-placeholder");
        node.setAttribute("aria-hidden", "true");
        return node;
      case "separator":
        node = el("div", "flex-separator " + parentLayout);
        setColor(node, "backgroundColor", component.color);
        applyCommon(node, component, parentLayout);
        return node;
      case "spacer":
        return el("div", "flex-spacer size-" + (keyword(component.size, SIZES) || "md"));
      case "filler":
        node = el("div", "flex-filler");
        if (typeof component.flex === "number") { node.style.flexGrow = String(component.flex); }
        return node;
      case "video":
        return imageOrPlaceholder(component.previewUrl, "flex-image size-full", component.aspectRatio);
      default:
        return null;
    }
  }

  function renderBubble(bubble) {
    var size = keyword(bubble.size, ["nano", "micro", "deca", "hecto", "kilo", "mega", "giga"]) || "mega";
    var card = el("div", "flex-bubble bubble-" + size);
    var styles = bubble.styles || {};
    ["header", "hero", "body", "footer"].forEach(function (part) {
      var block = bubble[part];
      if (!block || typeof block !== "object") { return; }
      var section = el("div", "flex-part flex-" + part);
      var style = styles[part] || {};
      setColor(section, "backgroundColor", style.backgroundColor);
      if (style.separator) { section.classList.add("separated"); }
      var rendered = renderComponent(block, "vertical");
      if (rendered) { section.appendChild(rendered); }
      card.appendChild(section);
    });
    if (bubble.action) { applyCommon(card, { action: bubble.action }, "vertical"); }
    return card;
  }

  function renderFlex(contents, altText) {
    if (contents && contents.type === "bubble") { return renderBubble(contents); }
    if (contents && contents.type === "carousel") {
      var carousel = el("div", "carousel");
      (contents.contents || []).forEach(function (bubble) {
        var item = renderBubble(bubble);
        item.classList.add("carousel-item");
        carousel.appendChild(item);
      });
      return carousel;
    }
    return unsupported(altText);
  }

  function unsupported(altText) {
    return textBubble(altText || strings.unsupported, "bot unsupported");
  }

  function renderMessage(message) {
    switch (message.type) {
      case "text":
        return textBubble(message.text);
      case "textV2":
        return textBubble(substituted(message));
      case "sticker":
        return el("span", "sticker", "[" + strings.sticker + "]");
      case "image":
        return imageOrPlaceholder(message.previewImageUrl || message.originalContentUrl, "message-image");
      case "video":
        return textBubble("[" + strings.video + "]");
      case "audio":
        return textBubble("[" + strings.audio + "]");
      case "location":
        return textBubble("[" + strings.location + "] " + (message.title || "") + "\n" + (message.address || ""));
      case "template":
        return renderTemplate(message.template, message.altText);
      case "flex":
        return renderFlex(message.contents, message.altText);
      default:
        return unsupported(message.altText);
    }
  }

  function botRow(message) {
    var row = el("li", "row from-bot");
    var avatar = el("span", "avatar", "窓");
    avatar.setAttribute("aria-hidden", "true");
    row.appendChild(avatar);
    var column = el("div", "row-body");
    if (message.sender && message.sender.name) { column.appendChild(el("span", "sender", message.sender.name)); }
    column.appendChild(renderMessage(message));
    row.appendChild(column);
    return row;
  }

  function residentRow(item) {
    if (item.kind === "image") {
      var photo = el("li", "row from-resident");
      photo.appendChild(textBubble("[" + strings.photoSent + "]", "resident photo"));
      return photo;
    }
    if (item.kind === "text" || item.displayText) {
      var row = el("li", "row from-resident");
      row.appendChild(textBubble(item.kind === "text" ? item.text : item.displayText, "resident"));
      return row;
    }
    var detail = item.data;
    if (item.params) {
      detail = Object.keys(item.params).map(function (key) { return item.params[key]; }).join(" ") + " (" + item.data + ")";
    }
    return el("li", "row system", strings.tapped + ": " + detail);
  }

  function systemRow(item) {
    var text = { follow: strings.followed, unblock: strings.unblocked, block: strings.blockedNote }[item.kind];
    return el("li", "row system", text || item.kind);
  }

  function renderQuickReplies(items) {
    clear(ui.quickReplies);
    var last = items.length ? items[items.length - 1] : null;
    var quick = last && last.from === "bot" && last.message.quickReply;
    var actions = quick && Array.isArray(quick.items) ? quick.items : [];
    actions.forEach(function (entry) {
      if (entry && entry.action) { ui.quickReplies.appendChild(actionButton(entry.action, "chip")); }
    });
    ui.quickReplies.hidden = actions.length === 0;
  }

  function itemRow(item) {
    if (item.from === "bot") { return botRow(item.message || {}); }
    if (item.from === "resident") { return residentRow(item); }
    return systemRow(item);
  }

  /** Show the chat; when it only grew, append the new rows (screen readers hear just those). */
  function renderChat(items) {
    var keys = items.map(function (item) { return JSON.stringify(item); });
    var previous = state.renderedKeys || [];
    var grew = previous.length > 0 && keys.length >= previous.length &&
      previous.every(function (key, index) { return keys[index] === key; });
    if (!grew) {
      clear(ui.messages);
      previous = [];
      if (!items.length) {
        ui.messages.appendChild(el("li", "row system empty", strings.noMessages));
      }
    }
    items.slice(previous.length).forEach(function (item) {
      ui.messages.appendChild(itemRow(item));
    });
    state.renderedKeys = keys;
    renderQuickReplies(items);
    scrollToEnd();
  }

  function scrollToEnd() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function loadChat() {
    var userId = state.selected;
    return call("GET", residentPath("/chat")).then(function (payload) {
      if (userId !== state.selected) { return; }
      var items = payload.items || [];
      var signature = JSON.stringify(items);
      if (signature !== state.chatSignature) {
        state.chatSignature = signature;
        renderChat(items);
      }
    });
  }

  // The rich menu ----------------------------------------------------------------------------

  function setMenuOpen(open) {
    ui.menu.hidden = !open;
    ui.menuToggle.setAttribute("aria-expanded", String(open));
    ui.menuToggle.textContent = state.menuBarText + (open ? " ▾" : " ▴");
    scrollToEnd();
  }

  function renderMenu(menu, imageUrl) {
    Array.prototype.slice.call(ui.menuFrame.querySelectorAll(".menu-area")).forEach(function (area) {
      ui.menuFrame.removeChild(area);
    });
    if (!menu || !imageUrl) {
      ui.menuToggle.hidden = true;
      ui.menu.hidden = true;
      ui.menuImage.removeAttribute("src");
      return;
    }
    state.menuBarText = menu.chatBarText || strings.menu;
    ui.menuImage.src = imageUrl;
    var width = (menu.size && menu.size.width) || 2500;
    var height = (menu.size && menu.size.height) || 1686;
    (menu.areas || []).forEach(function (area, index) {
      var bounds = area.bounds || {};
      var button = el("button", "menu-area");
      button.type = "button";
      button.style.left = (100 * (bounds.x || 0) / width) + "%";
      button.style.top = (100 * (bounds.y || 0) / height) + "%";
      button.style.width = (100 * (bounds.width || 0) / width) + "%";
      button.style.height = (100 * (bounds.height || 0) / height) + "%";
      var label = (area.action && (area.action.label || area.action.text || area.action.displayText)) || String(index + 1);
      button.setAttribute("aria-label", label);
      button.title = label;
      button.addEventListener("click", function () { perform(area.action); });
      ui.menuFrame.appendChild(button);
    });
    ui.menuToggle.hidden = false;
    setMenuOpen(Boolean(menu.selected));
  }

  function loadMenu() {
    var userId = state.selected;
    return call("GET", residentPath("/richmenu")).then(function (payload) {
      if (userId !== state.selected) { return; }
      var signature = JSON.stringify(payload);
      if (signature !== state.menuSignature) {
        state.menuSignature = signature;
        renderMenu(payload.richMenu, payload.imageUrl);
      }
    });
  }

  // Polling ----------------------------------------------------------------------------------

  function poll() {
    if (state.polling || state.busy || document.visibilityState === "hidden") { return; }
    state.polling = true;
    state.polls += 1;
    var work = [];
    if (state.selected) { work.push(loadChat()); }
    if (state.polls % SLOW_POLL_EVERY === 0) {
      work.push(loadResidents());
      if (state.selected) { work.push(loadMenu()); }
    }
    Promise.all(work)
      .catch(function (error) { showError(error.message); })
      .then(function () { state.polling = false; });
  }

  // Wiring -----------------------------------------------------------------------------------

  ui.addForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var name = ui.newName.value.trim();
    if (!name || name.length > 20) {
      showError(strings.nameRequired);
      ui.newName.focus();
      return;
    }
    clearError();
    call("POST", "/residents", { displayName: name, language: ui.newLanguage.value })
      .then(function (resident) {
        ui.newName.value = "";
        return loadResidents().then(function () { return select(resident.userId); });
      })
      .catch(function (error) { showError(error.message); });
  });

  ui.follow.addEventListener("click", function () { act("/follow", {}); });
  ui.block.addEventListener("click", function () { act("/unfollow", {}); });

  ui.composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = ui.input.value;
    if (!text.trim() || ui.input.disabled) { return; }
    sendText(text).then(function (sent) {
      if (sent) { ui.input.value = ""; fitInput(); }
      ui.input.focus();
    });
  });

  ui.input.addEventListener("keydown", function (event) {
    // Enter sends; Shift+Enter is a new line; Enter that confirms an IME conversion is not.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      ui.composer.requestSubmit();
    }
  });

  function fitInput() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 128) + "px";
  }

  ui.input.addEventListener("input", fitInput);

  ui.menuToggle.addEventListener("click", function () { setMenuOpen(ui.menu.hidden); });
  ui.photoInput.addEventListener("change", function () {
    var file = ui.photoInput.files && ui.photoInput.files[0];
    if (file) { sendPhoto(file); }
  });
  ui.pickerSend.addEventListener("click", submitPicker);
  ui.pickerCancel.addEventListener("click", closePicker);
  ui.pickerInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); submitPicker(); }
    if (event.key === "Escape") { closePicker(); }
  });

  var wanted = decodeURIComponent(window.location.hash.slice(1));
  loadResidents()
    .then(function () {
      if (wanted && selectedResidentById(wanted)) { return select(wanted); }
      return null;
    })
    .catch(function (error) { showError(error.message); });

  function selectedResidentById(userId) {
    return state.residents.some(function (resident) { return resident.userId === userId; });
  }

  if (!state.selected) {
    ui.messages.appendChild(el("li", "row system empty", strings.select));
  }
  window.setInterval(poll, POLL_MS);
}());
